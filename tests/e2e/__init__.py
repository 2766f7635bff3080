"""End-to-end tier: the installed `rag` with the real bundled models on sample_docs."""
