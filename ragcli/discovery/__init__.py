"""Find the files to ingest: the walk of folders (`walk`), `--files-from` lists
(`path_lists`), ignore files and names nobody wants (`ignore_rules`), and the wording of
why a path is skipped (`skip_reasons`)."""

from __future__ import annotations

from ragcli.discovery.path_lists import read_path_list
from ragcli.discovery.walk import DiscoveryOptions, discover, discover_below

__all__ = ["DiscoveryOptions", "discover", "discover_below", "read_path_list"]
