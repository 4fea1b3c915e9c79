// A small PNG made in memory, byte for byte the same as the Python bots' (`pixel.py`): an 8×8 RGB
// gradient whose image data is one stored (uncompressed) deflate block, so its size is fixed: 268
// bytes. crates/server/tests/real_clients.rs checks the bots download exactly that many.

const WIDTH = 8;
const HEIGHT = 8;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (const x of bytes) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function u32(n) {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(n >>> 0);
  return buf;
}

function chunk(kind, data) {
  const body = Buffer.concat([Buffer.from(kind, "latin1"), data]);
  return Buffer.concat([u32(data.length), body, u32(crc32(body))]);
}

export function png() {
  const rows = [];
  for (let y = 0; y < HEIGHT; y++) {
    rows.push(0);
    for (let x = 0; x < WIDTH; x++) rows.push(x * 32, y * 32, 128);
  }
  const raw = Buffer.from(rows);
  const len = Buffer.alloc(4);
  len.writeUInt16LE(raw.length, 0);
  len.writeUInt16LE(0xffff ^ raw.length, 2);
  // zlib header (deflate, no preset dictionary), one final stored block, Adler-32 of the data.
  const stored = Buffer.concat([Buffer.from([0x78, 0x01, 0x01]), len, raw, u32(adler32(raw))]);
  const ihdr = Buffer.concat([u32(WIDTH), u32(HEIGHT), Buffer.from([8, 2, 0, 0, 0])]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", stored),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
