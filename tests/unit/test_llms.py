"""The LLM's prefix-state cache: trusted input, so written owner-only and read with care."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ragcli.llm.prefix_state import pack_state, read_state_file, write_state_file

STATE = bytes(range(256)) * 8


def test_the_cache_is_owner_writable_only_whatever_the_umask(
    tmp_path: Path, no_umask: None
) -> None:
    state_file = tmp_path / "cache" / "models" / "prefix-state" / "k.state"
    write_state_file(state_file, STATE)
    assert state_file.stat().st_mode & 0o777 == 0o644
    for folder in (tmp_path / "cache", tmp_path / "cache" / "models", state_file.parent):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
    assert read_state_file(state_file) == STATE


def test_a_state_others_could_have_written_is_not_read(tmp_path: Path) -> None:
    state_file = tmp_path / "k.state"
    state_file.write_bytes(pack_state(STATE))
    state_file.chmod(0o644)
    assert read_state_file(state_file) == STATE
    for loose in (0o664, 0o646, 0o666):
        state_file.chmod(loose)
        assert read_state_file(state_file) is None, oct(loose)


def test_a_fifo_or_a_device_in_the_cache_is_passed_over_at_once(tmp_path: Path) -> None:
    fifo, device = tmp_path / "fifo.state", tmp_path / "zero.state"
    os.mkfifo(fifo, 0o600)
    device.symlink_to("/dev/zero")
    results: list[bytes | None] = []
    reader = threading.Thread(
        target=lambda: results.extend(read_state_file(path) for path in (fifo, device)),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive() and results == [None, None]
