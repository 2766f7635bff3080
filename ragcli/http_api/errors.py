"""Failures as HTTP answers: a status and OpenAI's error object, never a traceback."""

from __future__ import annotations

from typing import Any

from ragcli import output
from ragcli.errors import ExitCode, RagError
from ragcli.settings import as_flag

# The status a ragcli error answers with, by the exit code `rag` would give it: what the
# client sent is wrong (4xx), or the server cannot answer now (503) or at all (500).
_STATUS = {
    ExitCode.USAGE: 400,
    ExitCode.INPUT_NOT_FOUND: 404,
    ExitCode.NO_STORE: 503,
    ExitCode.MODEL: 503,
    ExitCode.LOCKED: 503,
    ExitCode.SYSTEM_LIMIT: 503,
}


class HttpError(Exception):
    """An answer other than 200: its status, OpenAI's error type and code, and a message."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = output.one_line(message)
        self.kind = kind
        self.code = code
        self.param = param
        self.headers: dict[str, str] = {}

    @classmethod
    def invalid(cls, message: str, param: str | None = None) -> HttpError:
        """A request of the wrong shape: 400."""
        return cls(400, message, "invalid_request_error", "invalid_request", param)

    @classmethod
    def of(cls, exc: RagError) -> HttpError:
        """A ragcli error, said in the CLI's one line, with the status its exit code maps to."""
        status = _STATUS.get(exc.exit_code, 500)
        kind = "invalid_request_error" if status < 500 else "server_error"
        return cls(status, exc.spelled(as_flag), kind, exc.exit_code.name.lower())

    @classmethod
    def unexpected(cls, exc: Exception) -> HttpError:
        """A bug, said in one line as the CLI says it: 500."""
        return cls(500, f"internal error: {type(exc).__name__}: {exc}", "server_error", "internal")

    def document(self) -> dict[str, Any]:
        """The JSON body: {"error": {"message", "type", "param", "code"}}."""
        said = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return {"error": said}
