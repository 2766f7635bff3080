"""Text work: loading files, splitting them into chunks, building prompts."""
