"""A small PNG made in memory, byte for byte the same as the Node bots' (`pixel.mjs`): an 8×8 RGB
gradient whose image data is one stored (uncompressed) deflate block, so its size is fixed: 268
bytes. crates/server/tests/real_clients.rs checks the bots download exactly that many."""

import struct
import zlib

WIDTH = HEIGHT = 8


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 32, y * 32, 128)) for x in range(WIDTH)) for y in range(HEIGHT)
    )
    # zlib header (deflate, no preset dictionary), one final stored block, Adler-32 of the data.
    stored = (
        b"\x78\x01"
        + b"\x01"
        + struct.pack("<HH", len(raw), 0xFFFF ^ len(raw))
        + raw
        + struct.pack(">I", zlib.adler32(raw))
    )
    ihdr = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stored) + _chunk(b"IEND", b"")


if __name__ == "__main__":
    print(len(png()))
