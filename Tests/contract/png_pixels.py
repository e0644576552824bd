"""Reading the pixels of a PNG with the standard library (zlib), enough to tell whether a
screenshot shows anything: 8-bit RGB or RGBA, not interlaced, as Chromium writes them."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Image:
    """Decoded pixels: `rows` holds one `bytes` of `width × channels` per line."""

    width: int
    height: int
    channels: int
    rows: list[bytes]

    def colour_counts(self, step: int = 1) -> Counter[bytes]:
        """How often each colour appears, looking at every `step`-th pixel of every `step`-th row."""
        counts: Counter[bytes] = Counter()
        size = self.channels
        for row in self.rows[::step]:
            counts.update(row[x : x + 3] for x in range(0, len(row), size * step))
        return counts


def decode_png(data: bytes) -> Image:
    """Decodes `data`; raises ValueError for a PNG this reader does not handle."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    position, header, compressed = len(SIGNATURE), None, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += length + 12  # length, type, body, CRC
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}, interlace {interlace}")
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(compressed))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels)
        rows.append(line)
        previous = line
    return Image(width, height, channels, rows)


def unfilter(kind: int, line: bytearray, previous: bytes, channels: int) -> bytes:
    """Undoes one row's filter (PNG specification, section 9). O(row length)."""
    if kind == 0:
        return bytes(line)
    if kind == 2:  # Up
        return bytes((a + b) & 0xFF for a, b in zip(line, previous))
    for x in range(len(line)):
        left = line[x - channels] if x >= channels else 0
        if kind == 1:  # Sub
            line[x] = (line[x] + left) & 0xFF
        elif kind == 3:  # Average
            line[x] = (line[x] + ((left + previous[x]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            estimate = left + up - corner
            distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
            predictor = left if distances[0] <= distances[1] and distances[0] <= distances[2] else up if distances[1] <= distances[2] else corner
            line[x] = (line[x] + predictor) & 0xFF
        else:
            raise ValueError(f"unknown filter {kind}")
    return bytes(line)
