"""Finding chunks for a question, shared by `search`, `ask` and `eval`: engine, fusion, gate."""
