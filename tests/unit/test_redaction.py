"""What ragcli blanks out of a server's text before repeating it."""

from __future__ import annotations

import pytest

from ragcli.remote.redaction import redact, secret_forms

KEY = "sk-SECRET/0123+abc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Invalid key {KEY}", "Invalid key [redacted]"),
        ("Invalid key sk-SECRET%2F0123%2Babc", "Invalid key [redacted]"),  # URL-encoded
        ('{"key": "sk-SECRET\\/0123+abc"}', '{"key": "[redacted]"}'),  # JSON-escaped
        ("Authorization: Bearer anything", "Authorization: [redacted]"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "[redacted]"}'),
        ("got Bearer eyJhbGciOi.x", "got Bearer [redacted]"),
        ("got basic dXNlcjpwYXNz", "got basic [redacted]"),
        ("see https://bob:hunter2@host/v1", "see https://[redacted]@host/v1"),
        ("see https://token@host/v1", "see https://[redacted]@host/v1"),
        # Words around credentials are not credentials.
        ("Bearer token required", "Bearer token required"),
        ("Basic authentication is off", "Basic authentication is off"),
        (
            "write to ops@example.com or https://host/a@b",
            "write to ops@example.com or https://host/a@b",
        ),
    ],
)
def test_credentials_are_blanked_out_and_words_kept(text: str, expected: str) -> None:
    assert redact(text, secret_forms([KEY, None, ""])) == expected
