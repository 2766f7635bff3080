"""Frames of an image file made ready for OCR: upright, gray on white, within a pixel budget.

Pillow decodes a frame whole before scaling it down, so a frame whose decoding would take
more memory than MAX_DECODE_BYTES is refused (FrameRefused) before a byte is decoded.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

# An image frame is decoded whole before it is scaled down (Pillow shrinks only a JPEG as
# it decodes, up to 8 times a side), then flattened to gray: a frame that would take more
# memory than this is refused before a byte is decoded. A decompression bomb (a few KB of
# PNG declaring billions of pixels) is one; a 13,000 x 13,000 RGBA PNG (1.3 GB) another.
MAX_DECODE_BYTES = 512 << 20
# Pillow keeps a pixel of these modes in one byte or two; of any other, in four.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_ORIENTATION = 0x0112  # the EXIF tag, and how each of its values is turned upright
_UPRIGHT = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


class FrameRefused(Exception):
    """An image frame too large to decode; the message says why, in the user's words."""


def image_frame(image: Image, number: int, pixels: int) -> Image:
    """Frame `number` of an image, upright, on white, in grayscale, at most `pixels` large."""
    from PIL import Image as Images

    prepare_frame(image, number, pixels)
    orientation = image.getexif().get(_ORIENTATION, 1)
    frame = _gray_on_white(image)
    if frame.width * frame.height > pixels:
        # reducing_gap: box-reduce by a whole factor first, then resample what is left.
        frame = frame.resize(_fitted(frame.size, pixels), Images.Resampling.LANCZOS, None, 2.0)
    upright = _UPRIGHT.get(orientation)
    return frame if upright is None else frame.transpose(Images.Transpose[upright])


def prepare_frame(image: Image, number: int, pixels: int) -> None:
    """Seek to a frame and set how it decodes; FrameRefused if that takes too much memory."""
    image.seek(number - 1)
    if image.width * image.height > pixels:
        image.draft("L", _fitted(image.size, pixels))  # a JPEG decodes at a fraction of its size
    width, height = image.size
    needed = width * height * _bytes_per_pixel(image)
    if needed > MAX_DECODE_BYTES:
        raise FrameRefused(
            f"{width:,} x {height:,} pixels ({image.mode}) would take {needed / 2**20:,.0f} MB "
            f"to decode, more than the {MAX_DECODE_BYTES >> 20:,} MB an image may"
        )


def _bytes_per_pixel(image: Image) -> int:
    """Bytes a pixel takes decoded, in grayscale, on white and in the first reduction."""
    stored = _STORED_BYTES.get(image.mode, 4)
    if not _transparent(image):
        return stored + 2  # its gray, the reduction
    converted = 0 if image.mode in ("RGBA", "LA") else 4
    return stored + converted + 4  # its gray, its alpha, the white under it, the reduction


def _transparent(image: Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _gray_on_white(image: Image) -> Image:
    """The frame in grayscale, its transparent pixels on white (often black underneath)."""
    from PIL import Image as Images

    if not _transparent(image):
        return image.convert("L")
    if image.mode not in ("RGBA", "LA"):
        image = image.convert("RGBA")
    # Transparent pixels are often black underneath: text would vanish into them.
    white = Images.new("L", image.size, 255)
    white.paste(image.convert("L"), mask=image.getchannel("A"))
    return white


def _fitted(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    """The size scaled down, keeping its shape, to at most `pixels` pixels."""
    width, height = size
    shrink = math.sqrt(pixels / (width * height))
    return max(1, int(width * shrink)), max(1, int(height * shrink))
