// PNG writing, and reading the text chunks back (PNG spec, ISO/IEC 15948 / W3C PNG 2nd edition).
// The encoder writes 8-bit grayscale, gray+alpha, RGB or RGBA, non-interlaced, every row with
// filter 0 (None), one zlib stream in one IDAT chunk. Settings travel as text chunks: tEXt when
// the value is Latin-1 (what every viewer shows), iTXt (UTF-8) otherwise, e.g. a prompt with emoji.
// Decoding pixels is image.ts's job (pngjs); readPngText only walks the chunk list.
import { deflateSync, inflateSync } from 'node:zlib';

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour type by channel count: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
const COLOR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

/** Key/value pairs stored as PNG text chunks. */
export type PngText = Record<string, string>;

/** An 8-bit image in planar layout [C, H, W] (the tensor layout), values 0..255. */
export interface RawImage {
  channels: number;
  height: number;
  width: number;
  data: Uint8Array;
}

// CRC-32 (ISO 3309, reflected polynomial 0xEDB88320) over chunk type and data, by byte table.
const CRC_TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c >>> 0;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One chunk: length, type, data, CRC of type + data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

function textChunk(key: string, value: string): Buffer {
  // Keywords: 1-79 printable Latin-1 characters, no leading, trailing or double spaces (spec 11.3.4.2).
  if (!/^[\u0020-\u007e\u00a1-\u00ff]{1,79}$/.test(key) || /^ | $| {2}/.test(key)) {
    throw new Error(
      `encodePng: text key ${JSON.stringify(key)} is not a PNG keyword (1-79 printable Latin-1 characters)`,
    );
  }
  const keyBytes = Buffer.from(key, 'latin1');
  if (isLatin1(value)) return chunk('tEXt', Buffer.concat([keyBytes, Buffer.of(0), Buffer.from(value, 'latin1')]));
  // iTXt: keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8 text.
  return chunk('iTXt', Buffer.concat([keyBytes, Buffer.of(0, 0, 0, 0, 0), Buffer.from(value, 'utf8')]));
}

/** Encodes an 8-bit planar image (1-4 channels) as PNG bytes, with optional text chunks. */
export function encodePng(image: RawImage, text: PngText = {}): Buffer {
  const { channels, height, width, data } = image;
  const colorType = COLOR_TYPE[channels];
  if (colorType === undefined) throw new Error(`encodePng: ${channels} channels; PNG takes 1, 2, 3 or 4`);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`encodePng: image size ${height}x${width} must be positive integers`);
  }
  if (data.length !== channels * height * width) {
    throw new Error(`encodePng: ${data.length} bytes do not fill [${channels}, ${height}, ${width}]`);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, colorType, 0, 0, 0], 8); // bit depth 8, deflate, adaptive filtering, no interlace

  // Scanlines: a filter-type byte (0) then the row's pixels interleaved, as PNG stores them.
  const stride = 1 + width * channels;
  const plane = height * width;
  const raw = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * stride + 1 + x * channels;
      for (let c = 0; c < channels; c++) raw[at + c] = data[c * plane + y * width + x];
    }
  }
  const texts = Object.entries(text).map(([key, value]) => textChunk(key, value));
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    ...texts,
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** True when the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Reads every tEXt, zTXt and iTXt chunk of a PNG into key/value pairs (a later key wins). */
export function readPngText(bytes: Uint8Array, source = 'PNG'): PngText {
  if (!isPng(bytes)) throw new Error(`readPngText: ${source} is not a PNG file (bad signature)`);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text: PngText = {};
  let at = 8;
  while (at + 12 <= buffer.length) {
    const length = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    const end = at + 8 + length;
    if (end + 4 > buffer.length) throw new Error(`readPngText: ${source} is truncated inside chunk ${type}`);
    const data = buffer.subarray(at + 8, end);
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      const [key, value] = parseTextChunk(type, data, source);
      text[key] = value;
    }
    if (type === 'IEND') break;
    at = end + 4;
  }
  return text;
}

function parseTextChunk(type: string, data: Buffer, source: string): [string, string] {
  const keyEnd = data.indexOf(0);
  if (keyEnd < 1) throw new Error(`readPngText: ${source} has a ${type} chunk without a keyword`);
  const key = data.toString('latin1', 0, keyEnd);
  if (type === 'tEXt') return [key, data.toString('latin1', keyEnd + 1)];
  if (type === 'zTXt') return [key, inflateSync(data.subarray(keyEnd + 2)).toString('latin1')];
  // iTXt: compression flag and method, then language tag and translated keyword, each \0-terminated.
  const compressed = data[keyEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keyEnd + 3);
  const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
  if (translatedEnd < 0) throw new Error(`readPngText: ${source} has a malformed iTXt chunk for ${key}`);
  const body = data.subarray(translatedEnd + 1);
  return [key, (compressed ? inflateSync(body) : body).toString('utf8')];
}
