"""Engines tier: real optional engines and servers (Milvus, Ray, MCP, Tesseract, llama.cpp's
server, watchfiles, the ONNX export), each taking seconds to start.
"""
