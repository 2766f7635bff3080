"""ragcli: answer questions about a folder of documents with local models, citing sources."""

__version__ = "0.1.0"
