"""The `rag` commands, one module per verb: parse the flags, call one step, render.

Each command resolves its settings once (common.resolve_settings), builds the step's options
record from them, calls the step and hands what it returns to output/. cli.py builds the
Typer app from these functions and turns errors into exit codes.
"""
