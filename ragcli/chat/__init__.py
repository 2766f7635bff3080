"""`rag chat`: a conversation with the stores, in a terminal or over piped lines.

- session: the library and the conversation a chat asks, and switching stores (/store).
- slash: the slash commands (/sources, /show N, /new, /store NAME, /help).
- terminal: the interactive loop: line editing, Ctrl-C stops an answer, Ctrl-D leaves.
- history: what was typed, kept across sessions in the user data dir (readline).
- piped: one question a line, as one conversation, when stdin is not a terminal.
"""
