"""CLI tier: `rag` run in-process or as a process, with the fakes or no model at all."""
