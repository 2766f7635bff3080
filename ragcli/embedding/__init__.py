"""Embedders: `base` (the Protocol), `factory` (picks one by spec), one module each for
sentence-transformers, its checked ONNX export, an embedding server and Ray workers."""
