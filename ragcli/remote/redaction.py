"""Keeping credentials out of what ragcli repeats from a server: API keys, auth headers, URLs.

A server that rejects a key often quotes it back (`401 Invalid API key: sk-...`), and a
proxy may echo the request's headers; ragcli passes such text on in its one-line errors,
so every piece of it is cleaned here first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

REDACTED = "[redacted]"

_PATTERNS = (
    # An Authorization header or field, whatever its scheme: `Authorization: Bearer sk-1`,
    # `"authorization": "Basic dTpw"`.
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)[^\"',;}\s]+(?:[ \t]+[^\"',;}\s]+)?"),
    # A bare credential after its scheme: `Bearer sk-1234567`, `Basic dXNlcjpwYXNz`; not a
    # word (`Bearer token required`): a credential has a digit, a capital or a sign.
    re.compile(r"(\b(?i:bearer|basic)\s+)(?=[\w.~+/=-]*[0-9A-Z.~+/=-])[\w.~+/=-]{6,}"),
    # A URL's user:password@ part.
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@\"']+(?=@)"),
)


def secret_forms(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """Every spelling a secret may come back in: as sent, URL-encoded or -decoded, JSON."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            escaped = json.dumps(secret)[1:-1]
            forms.update({secret, quote(secret, safe=""), unquote(secret), escaped})
            forms.add(escaped.replace("/", "\\/"))  # some encoders escape `/` too
    return tuple(sorted(forms - {""}, key=len, reverse=True))  # longest first


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace the given secrets, Authorization values and URL credentials in a text."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text
