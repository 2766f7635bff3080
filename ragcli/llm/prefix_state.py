"""A llama.cpp prompt state saved in the model cache: checksummed, owner-only."""

from __future__ import annotations

import os
from pathlib import Path

# A saved prefix state: this magic, the state's length (8 bytes, little-endian) and sha256,
# then the state. llama.cpp takes any bytes of the right shape, so a flipped bit would
# otherwise poison every later answer of every process.
_STATE_MAGIC = b"ragcli prefix state 1\n"
_STATE_HEADER = len(_STATE_MAGIC) + 8 + 32


def pack_state(data: bytes) -> bytes:
    """Prefix a model state with its length and checksum, as saved to the cache."""
    import hashlib

    return _STATE_MAGIC + len(data).to_bytes(8, "little") + hashlib.sha256(data).digest() + data


def unpack_state(blob: bytes) -> bytes | None:
    """Return the state saved by pack_state, or None if the file is damaged or foreign."""
    import hashlib

    if len(blob) < _STATE_HEADER or not blob.startswith(_STATE_MAGIC):
        return None
    start = len(_STATE_MAGIC)
    size = int.from_bytes(blob[start : start + 8], "little")
    data = blob[_STATE_HEADER:]
    if len(data) != size or hashlib.sha256(data).digest() != blob[start + 8 : _STATE_HEADER]:
        return None
    return data


def write_state_file(state_file: Path, state: bytes) -> None:
    """Save a model state to the cache, writable by its owner alone whatever the umask.

    OSError when the cache takes no file."""
    from ragcli.files import atomic_write_bytes, make_folders

    make_folders(state_file.parent)
    atomic_write_bytes(state_file, pack_state(state))


def read_state_file(state_file: Path) -> bytes | None:
    """Return a saved model state, or None: missing, damaged, not a regular file, or one
    that another user could have written (the cache is trusted input, as ssh trusts keys)."""
    import stat

    from ragcli.files import open_regular

    try:
        descriptor = open_regular(state_file)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if status.st_uid != os.getuid() or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        return unpack_state(handle.read())
