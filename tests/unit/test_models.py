"""The bundled LLM assembled into the model cache: trusted input, so owner-only write."""

from __future__ import annotations

from pathlib import Path

from ragcli.bundled import bundled_llm_path


def test_the_model_cache_is_owner_writable_only_whatever_the_umask(
    tmp_path: Path, no_umask: None
) -> None:
    cache = tmp_path / "cache" / "models"
    gguf = bundled_llm_path(cache)
    for path in (cache.parent, cache, *cache.iterdir()):
        mode = path.stat().st_mode & 0o777
        assert mode & 0o022 == 0, (path, oct(mode))
    assert gguf.stat().st_mode & 0o777 == 0o644
