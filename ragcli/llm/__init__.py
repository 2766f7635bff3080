"""LLMs: `base` (the Protocol), `factory` (picks one by spec), llama.cpp and server clients,
and the numpy-only algorithms llama.cpp runs with (decoding, copy search, branching, the
loop guard)."""
