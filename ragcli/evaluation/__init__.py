"""Measuring ragcli: BEIR data sets read for `rag eval`, and the retrieval and answer metrics."""
