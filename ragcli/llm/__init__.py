"""LLMs: `base` (the Protocol), `factory` (picks one by spec), llama.cpp and server clients,
and the numpy-only algorithms llama.cpp decodes with (decoding, copying, branching, the
repetition guard)."""
