"""Word why a path is passed over: an OS error, a link that leads nowhere, not a regular file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def not_regular(mode: int) -> str:
    """Say what a file that is not a regular file is, as a reason to pass it over."""
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    what = next((name for test, name in kinds if test(mode)), "")
    return f"not a regular file ({what})" if what else "not a regular file"


def stat_failure(path: Path, exc: OSError) -> str:
    """Explain why a path (perhaps a link) could not be followed to what it names."""
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "broken symlink"
    return failure_reason(exc)


def failure_reason(exc: OSError) -> str:
    """Word an OS error as a short lower-case reason."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]
