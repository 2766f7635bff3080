"""Run the CLI as `python -m ragcli`."""

from ragcli.cli import main

main()
