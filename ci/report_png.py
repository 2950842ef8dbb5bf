"""Just enough PNG for the report's screenshots: read an 8-bit RGB or RGBA image (what
Chromium writes; or a palette one) into rows of pixels, and write rows back as a palette
image of at most 256 colours (a page of text and flat colours loses nothing visible, and
weighs a third)."""

from __future__ import annotations

import struct
import zlib
from collections import Counter

SIGNATURE = b"\x89PNG\r\n\x1a\n"
Pixel = tuple[int, int, int]


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG file (its first 8 bytes are not PNG's signature)")
    at, found = 8, {b"IDAT": b""}
    while at < len(data):
        (length,), kind = struct.unpack(">I", data[at:at + 4]), data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        found[kind] = found[kind] + body if kind == b"IDAT" else body
        at += 12 + length
    return found


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    """Undo one scanline's filter in place (PNG's five: none, sub, up, average, Paeth)."""
    if kind == 0:
        return
    if kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + prev[i]) // 2) & 0xFF
        else:
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                  else corner)) & 0xFF


def read(data: bytes) -> tuple[int, int, list[list[Pixel]]]:
    """Width, height and the rows of RGB pixels (alpha dropped) of an 8-bit RGB, RGBA or
    palette PNG."""
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if depth != 8 or colour not in (2, 3, 6) or interlace:
        raise ValueError(f"PNG: only 8-bit RGB, RGBA or palette, not interlaced (depth {depth},"
                         f" colour type {colour}, interlace {interlace})")
    bpp = {2: 3, 3: 1, 6: 4}[colour]
    plte = chunks.get(b"PLTE", b"")
    palette = list(zip(plte[0::3], plte[1::3], plte[2::3], strict=True))
    raw, stride = zlib.decompress(chunks[b"IDAT"]), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(raw[start], line, prev, bpp)
        rows.append([palette[i] for i in line] if colour == 3 else
                    list(zip(line[0::bpp], line[1::bpp], line[2::bpp], strict=True)))
        prev = line
    return width, height, rows


def colours(rows: list[list[Pixel]]) -> Counter[Pixel]:
    return Counter(p for row in rows for p in row)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_palette(width: int, rows: list[list[Pixel]]) -> bytes:
    """The rows as a palette PNG: the 256 most frequent colours, every other pixel as the
    nearest of them."""
    counts = colours(rows)
    palette = [c for c, _ in counts.most_common(256)]
    index = {c: i for i, c in enumerate(palette)}
    for c in counts:
        if c not in index:
            index[c] = min(range(len(palette)),
                           key=lambda i: sum((a - b) ** 2 for a, b in zip(c, palette[i],
                                                                          strict=True)))
    raw = b"".join(b"\0" + bytes(index[p] for p in row) for row in rows)
    head = struct.pack(">IIBBBBB", width, len(rows), 8, 3, 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", head) + _chunk(b"PLTE", b"".join(map(bytes, palette)))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
