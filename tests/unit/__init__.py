"""Unit tier: functions and modules with small fakes; real SQLite and FAISS when fast."""
