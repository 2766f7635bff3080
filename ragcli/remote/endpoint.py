"""Who a remote server is to ragcli: its role in messages, its parsed URL and credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ragcli.errors import UsageError
from ragcli.remote.redaction import redact, secret_forms

_DETAIL_CHARS = 200


@dataclass(frozen=True)
class Role:
    """What a server is to ragcli, for messages: its name and the settings that reach it."""

    name: str  # "LLM server"
    url_flag: str
    key_env: str
    model_flag: str


@dataclass(frozen=True)
class Endpoint:
    """A parsed base URL and the role of the server behind it."""

    url: str
    https: bool
    host: str
    port: int | None
    path: str
    role: Role
    # The API key and URL credentials, in every spelling; never in a repr.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def log_hint(self) -> str:
        return f"check the {self.role.name}'s log"

    def redact(self, text: str) -> str:
        """The text with this server's credentials (and any others it shows) blanked out."""
        return redact(text, self.secrets)

    def line(self, text: str) -> str:
        """A text from the server, credentials blanked out, as one short line."""
        return one_line(self.redact(text))


def parse_url(url: str, role: Role, api_key: str | None = None) -> Endpoint:
    """Check and split a base URL such as http://127.0.0.1:8000/v1."""
    text = url.strip()
    problem = UsageError(
        f"{role.name} URL must start with http:// or https://: {one_line(redact(text))!r}",
        f"pass {role.url_flag} like http://127.0.0.1:8080/v1",
    )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem
    path = parts.path.rstrip("/")
    # Without any user:password@ part, which would otherwise show in specs and messages.
    base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"
    secrets = secret_forms([api_key, parts.username, parts.password])
    return Endpoint(base, parts.scheme == "https", parts.hostname, port, path, role, secrets)


def one_line(text: str) -> str:
    """Collapse whitespace and cut to a length that fits one terminal line or so."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 3] + "..."
