"""Talking to OpenAI-compatible HTTP servers (LLMs, embedders): one client, redaction."""
