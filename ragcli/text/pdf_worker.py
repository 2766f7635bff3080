"""The process that reads PDFs and images for ragcli.text.pdf, so a slow page can be killed.

ragcli.text.pdf starts it running `main()` with the descriptor of a Unix socket as its last
argument. Requests and replies are length-prefixed JSON objects; the file to read arrives as
a descriptor passed (SCM_RIGHTS) with its "open" request, so the worker reads exactly the
file the parent opened and checks. PDF text comes from pypdf; "render" draws a page for OCR
(PDF pages with pypdfium2, frames of an image file with Pillow) as a grayscale PNG of at
most `pixels` pixels at `path`. An image file's pages have no text; its first frame is
checked at "open" (image_frames.MAX_DECODE_BYTES), the others as they are drawn.

    {"open": true} + fd                   ->  {"pages": n} | {"error": "...", "plain"?: true}
    {"open": true, "image": true, "pixels": m} + fd   ->  the same
    {"page": n}                           ->  {"text": "..."} | {"error": "..."}
    {"render": n, "path": p, "dpi": d, "pixels": m}   ->  {"rendered": true} | {"error": "..."}
    {"close": true}                       ->  {"closed": true}
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import warnings
from typing import IO, TYPE_CHECKING, Any

from ragcli.text.image_frames import FrameRefused, image_frame, prepare_frame
from ragcli.text.pdf_messages import receive_message, send_message

if TYPE_CHECKING:
    from PIL.Image import Image
    from pypdf import PdfReader

# A request is a few bytes; a longer one means the stream is out of step.
MAX_REQUEST_BYTES = 1 << 16
# pypdf's own footprint plus one damaged page; past it the page fails with MemoryError.
_MEMORY_BYTES = 2 << 30


class _Session:
    """The one PDF or image the worker has open."""

    def __init__(self) -> None:
        self.file: IO[bytes] | None = None
        self.reader: PdfReader | None = None
        self.image: Image | None = None
        self.rendered: Any = None  # pypdfium2's PdfDocument, opened at the first render

    def handle(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        if "open" in request:
            self.close()
            if not fds:
                return {"error": "no file descriptor came with the request"}
            self.file = os.fdopen(fds[0], "rb")
            if request.get("image"):
                return self._open_image(int(request["pixels"]))
            return self._open()
        if "page" in request:
            return {"text": ""} if self.image is not None else self._page(int(request["page"]))
        if "render" in request:
            try:
                self._render(request)
            except FrameRefused as exc:
                return {"error": str(exc)}
            except Exception as exc:  # pdfium and Pillow raise many types on damaged input
                return {"error": describe(exc)}
            return {"rendered": True}
        self.close()
        return {"closed": True}

    def _open_image(self, pixels: int) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        # Each frame's decoding is bounded here (prepare_frame), a JPEG's after its draft; Pillow's
        # own bound would refuse a large JPEG that decodes small, and below that, warn.
        Image.MAX_IMAGE_PIXELS = None
        try:
            self.image = Image.open(self.file)  # type: ignore[arg-type]
            prepare_frame(self.image, 1, pixels)
            return {"pages": int(getattr(self.image, "n_frames", 1))}
        except FrameRefused as exc:
            return {"error": str(exc), "plain": True}
        except UnidentifiedImageError:  # its message names the descriptor, not the file
            return {"error": "not an image format Pillow can decode, or damaged"}
        except Exception as exc:  # Pillow raises many types on damaged files
            return {"error": describe(exc)}

    def _render(self, request: dict[str, Any]) -> None:
        number, path = int(request["render"]), str(request["path"])
        pixels = int(request["pixels"])
        if self.image is not None:
            image_frame(self.image, number, pixels).save(path, "PNG")
            return
        if self.file is None:
            raise ValueError("no PDF open")
        import pypdfium2

        if self.rendered is None:
            self.rendered = pypdfium2.PdfDocument(_PositionedReader(self.file.fileno()))
        page = self.rendered[number - 1]
        try:
            width, height = page.get_size()
            scale = float(request["dpi"]) / 72
            scale = min(scale, math.sqrt(pixels / max(width * height, 1.0)))
            page.render(scale=scale, grayscale=True).to_pil().save(path, "PNG")
        finally:
            page.close()

    def _open(self) -> dict[str, Any]:
        from pypdf import PdfReader

        try:
            self.reader = PdfReader(self.file)  # type: ignore[arg-type]
            if self.reader.is_encrypted and not self.reader.decrypt(""):
                return {"error": "encrypted PDF that needs a password", "plain": True}
            return {"pages": len(self.reader.pages)}
        except Exception as exc:  # pypdf raises many types on damaged files
            return {"error": describe(exc)}

    def _page(self, number: int) -> dict[str, Any]:
        if self.reader is None:
            return {"error": "no PDF open"}
        try:
            return {"text": self.reader.pages[number - 1].extract_text() or ""}
        except Exception as exc:  # pypdf raises many types on damaged pages
            return {"error": describe(exc)}

    def close(self) -> None:
        if self.rendered is not None:
            self.rendered.close()
        if self.image is not None:
            self.image.close()
        if self.file is not None:
            self.file.close()
        self.file = self.reader = self.image = self.rendered = None


class _PositionedReader:
    """An open file read at its own offset (os.pread), so pypdf and pypdfium2 can share it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.position = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position}.get(whence)
        self.position = (os.fstat(self.fd).st_size if base is None else base) + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = max(0, os.fstat(self.fd).st_size - self.position)
        data = os.pread(self.fd, size, self.position)
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def describe(exc: BaseException) -> str:
    """Return a short one-line account of an exception."""
    detail = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def serve(sock: socket.socket) -> None:
    """Say ready, then answer requests until the parent closes its end."""
    import pypdf  # noqa: F401  (imported before "ready", so no page pays for it)

    session = _Session()
    reply: dict[str, Any] = {"ready": True}
    while True:
        try:
            send_message(sock, reply)
        except OSError:
            return
        try:
            request, fds = receive_message(sock, MAX_REQUEST_BYTES)
        except (EOFError, OSError, ValueError):
            return
        try:
            reply = session.handle(request, fds)
        except MemoryError:
            reply = {"error": "MemoryError: page needs too much memory"}
        except OSError as exc:
            reply = {"error": describe(exc)}


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass


def _quiet_libraries() -> None:
    """Keep Pillow's and pypdf's warnings and log lines off the user's terminal.

    This process shares the user's stderr; what a file's reading needs to say comes back in
    a reply (and the size limits are the parent's), so a raw DecompressionBombWarning or
    "Ignoring wrong pointing object" line would only be noise.
    """
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger().addHandler(logging.NullHandler())  # no "last resort" to stderr


def main() -> None:
    """Serve the parent on the socket whose descriptor is the first argument."""
    # Ctrl-C reaches the whole process group; the parent decides, the worker sees EOF.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Its stderr is the user's: a library's warning (Pillow's on a damaged TIFF, say) would
    # be a raw line there; what goes wrong with a page comes back in the reply instead.
    warnings.simplefilter("ignore")
    _limit_memory()
    _quiet_libraries()
    with socket.socket(fileno=int(sys.argv[1])) as sock:
        serve(sock)
