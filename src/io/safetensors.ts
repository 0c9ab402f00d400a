// The safetensors checkpoint format (https://github.com/huggingface/safetensors):
//
//   [8 bytes: u64 little-endian N] [N bytes: JSON header] [data buffer]
//
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}, with offsets
// relative to the start of the data buffer, plus an optional "__metadata__" of string pairs.
// Tensors are row-major and little-endian. Stable Diffusion checkpoints run past 2 GB, so the
// reader never loads the whole file: it keeps a descriptor and reads one tensor at a time at a
// numeric file position (exact up to 2^53). Every dtype is converted to float32 on read; the
// writer produces float32 only.
import * as fs from 'node:fs';
import { endianness } from 'node:os';

/** A tensor as plain data: row-major float32 values and their shape. */
export interface TensorRecord {
  readonly shape: readonly number[];
  data: Float32Array;
}

/** Bytes per element of each dtype we can read. */
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1 };

const METADATA_KEY = '__metadata__';
/** Largest single readSync/writeSync call; larger tensors go in several calls. */
const IO_CHUNK = 1 << 30;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  /** Absolute position of the tensor's first byte in the file. */
  position: number;
  byteLength: number;
}

/** A safetensors file opened for reading; holds a file descriptor until close(). */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private fd: number | null,
    private readonly entries: Map<string, HeaderEntry>,
    readonly metadata: Record<string, string>,
  ) {}

  /** Opens `path` and parses and validates its header; tensor bytes are read later by read(). */
  static open(path: string): SafetensorsFile {
    requireLittleEndianHost();
    const fd = fs.openSync(path, 'r');
    try {
      const { entries, metadata } = parseHeader(path, fd, fs.fstatSync(fd).size);
      return new SafetensorsFile(path, fd, entries, metadata);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Tensor names in file order (by data offset). */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  info(name: string): { dtype: string; shape: number[]; byteLength: number } {
    const entry = this.entry(name);
    return { dtype: entry.dtype, shape: [...entry.shape], byteLength: entry.byteLength };
  }

  /** Reads one tensor's bytes from its file offset and converts them to float32. */
  read(name: string): TensorRecord {
    const entry = this.entry(name);
    const fd = this.fd;
    if (fd === null) throw new Error(`safetensors file "${this.path}" is closed; cannot read tensor "${name}"`);
    const numel = entry.byteLength / DTYPE_BYTES[entry.dtype];
    const data = new Float32Array(numel);
    const what = `tensor "${name}" in safetensors file "${this.path}"`;
    if (entry.dtype === 'F32') {
      // Read straight into the result's memory: no copy, no conversion.
      readExactly(fd, new Uint8Array(data.buffer), entry.position, what);
    } else {
      // A fresh ArrayBuffer starts aligned, so any typed view over it is valid.
      const raw = new ArrayBuffer(entry.byteLength);
      readExactly(fd, new Uint8Array(raw), entry.position, what);
      convertToFloat32(entry.dtype, raw, data);
    }
    return { shape: [...entry.shape], data };
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private entry(name: string): HeaderEntry {
    const entry = this.entries.get(name);
    if (entry !== undefined) return entry;
    const names = this.keys();
    const examples = names.slice(0, 5).map((n) => JSON.stringify(n));
    if (names.length > 5) examples.push(`... (${names.length} in all)`);
    const available = names.length > 0 ? `it has ${examples.join(', ')}` : 'it has no tensors';
    throw new Error(`safetensors file "${this.path}" has no tensor "${name}"; ${available}`);
  }
}

/** Reads every tensor of a safetensors file. */
export function readSafetensors(path: string): Map<string, TensorRecord> {
  const file = SafetensorsFile.open(path);
  try {
    return new Map(file.keys().map((name) => [name, file.read(name)]));
  } finally {
    file.close();
  }
}

/** The "__metadata__" string pairs of a safetensors file (its header only is read). */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  const file = SafetensorsFile.open(path);
  try {
    return file.metadata;
  } finally {
    file.close();
  }
}

export interface WriteSafetensorsOptions {
  /** Storage type: F32 (default, exact) or F16 (half the size; values rounded to nearest even, out of range to infinity). */
  dtype?: 'F32' | 'F16';
}

/** IEEE half-precision bits of each value, rounded to nearest even (subnormals, infinities and NaN kept). */
export function toFloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    const mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      // Subnormal half (or zero): shift the full significand into place, rounding to nearest even.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const significand = mantissa | 0x800000;
      const shift = 14 - e;
      const half = significand >>> shift;
      const rest = significand & ((1 << shift) - 1);
      const midpoint = 1 << (shift - 1);
      out[i] = sign | (half + (rest > midpoint || (rest === midpoint && (half & 1) === 1) ? 1 : 0));
      continue;
    }
    const half = (e << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    out[i] = sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0));
  }
  return out;
}

/**
 * Writes float32 tensors (names sorted, header space-padded to a multiple of 8 bytes, as the
 * reference implementation does). The file is written to `<path>.tmp-<pid>` and renamed over
 * `path` only when complete, so a failure never leaves a corrupt file at `path`.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorRecord> | Record<string, TensorRecord>,
  metadata?: Record<string, string>,
  options: WriteSafetensorsOptions = {},
): void {
  const { dtype = 'F32' } = options;
  if (dtype !== 'F32' && dtype !== 'F16')
    throw new Error(`writeSafetensors "${path}": dtype must be F32 or F16, got ${String(dtype)}`);
  const bytesPer = dtype === 'F16' ? 2 : 4;
  requireLittleEndianHost();
  const records = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  // Validate everything and build the header before touching the disk. The JSON is assembled
  // by hand because JS objects would reorder integer-like keys such as "0".
  const fields: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(`writeSafetensors "${path}": metadata "${key}" must be a string, got ${typeof value}`);
      }
    }
    fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const [name, record] of records) {
    checkRecord(path, name, record);
    const end = offset + record.data.length * bytesPer;
    const entry = { dtype, shape: record.shape, data_offsets: [offset, end] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    offset = end;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const headerLength = Math.ceil(json.length / 8) * 8;
  const header = Buffer.alloc(8 + headerLength, 0x20); // 0x20: space padding
  header.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(header, 8);

  const tmpPath = `${path}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmpPath, 'w');
    writeAll(fd, header);
    for (const [, record] of records) {
      // Tensor by tensor, straight from each array's memory (the host is little-endian).
      const data = dtype === 'F16' ? toFloat16Bits(record.data) : record.data;
      const { buffer, byteOffset, byteLength } = data;
      writeAll(fd, new Uint8Array(buffer, byteOffset, byteLength));
    }
    fs.fsyncSync(fd); // the data must be on disk before the rename makes it visible
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmpPath, path);
  } catch (err) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmpPath, { force: true });
    throw err;
  }
}

function checkRecord(path: string, name: string, record: TensorRecord): void {
  const where = `writeSafetensors "${path}": tensor "${name}"`;
  if (name === METADATA_KEY || name.length === 0) throw new Error(`${where}: this name is reserved or empty`);
  if (!(record.data instanceof Float32Array)) throw new Error(`${where}: data must be a Float32Array`);
  if (!isValidShape(record.shape)) {
    throw new Error(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(record.shape)}`);
  }
  const numel = product(record.shape);
  if (record.data.length !== numel) {
    throw new Error(
      `${where}: shape [${record.shape.join(', ')}] has ${numel} elements but data has ${record.data.length}`,
    );
  }
}

/** Reads and validates the length prefix and JSON header; returns entries sorted by offset. */
function parseHeader(
  path: string,
  fd: number,
  fileSize: number,
): { entries: Map<string, HeaderEntry>; metadata: Record<string, string> } {
  const where = `safetensors file "${path}"`;
  if (fileSize < 8) throw new Error(`${where} is ${fileSize} bytes long, too short for the 8-byte header length`);
  const prefix = new Uint8Array(8);
  readExactly(fd, prefix, 0, `header length of ${where}`);
  const headerLength = Number(Buffer.from(prefix.buffer).readBigUInt64LE(0));
  if (headerLength > fileSize - 8) {
    throw new Error(`${where}: header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  }
  const headerBytes = new Uint8Array(headerLength);
  readExactly(fd, headerBytes, 8, `header of ${where}`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(headerBytes.buffer).toString('utf8'));
  } catch (err) {
    throw new Error(`${where}: header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) throw new Error(`${where}: header must be a JSON object`);

  const bufferStart = 8 + headerLength;
  const bufferLength = fileSize - bufferStart;
  const metadata: Record<string, string> = {};
  const entries: [string, HeaderEntry][] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) throw new Error(`${where}: "${METADATA_KEY}" must be an object of strings`);
      // The format says strings; other writers occasionally store numbers, which we keep as text.
      for (const [key, item] of Object.entries(value)) {
        metadata[key] = typeof item === 'string' ? item : JSON.stringify(item);
      }
      continue;
    }
    const what = `tensor "${name}" in ${where}`;
    if (!isPlainObject(value)) throw new Error(`${what}: header entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw new Error(
        `${what}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    }
    if (!isValidShape(shape)) throw new Error(`${what}: invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(Number.isSafeInteger)) {
      throw new Error(`${what}: data_offsets must be two integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin < 0 || end < begin || end > bufferLength) {
      throw new Error(`${what}: data_offsets [${begin}, ${end}] fall outside the data buffer of ${bufferLength} bytes`);
    }
    const expected = product(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      throw new Error(
        `${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${expected}`,
      );
    }
    entries.push([name, { dtype, shape, position: bufferStart + begin, byteLength: expected }]);
  }
  entries.sort(([, a], [, b]) => a.position - b.position);
  return { entries: new Map(entries), metadata };
}

/** Element conversions to float32. Integers are exact up to 2^24 in magnitude. */
function convertToFloat32(dtype: string, raw: ArrayBuffer, out: Float32Array): void {
  switch (dtype) {
    case 'F16': {
      const table = halfTable();
      const src = new Uint16Array(raw);
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
      return;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32, so widening is a shift: exact for every value.
      const src = new Uint16Array(raw);
      const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return;
    }
    case 'I64': {
      const src = new BigInt64Array(raw);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return;
    }
    case 'BOOL': {
      const src = new Uint8Array(raw);
      for (let i = 0; i < src.length; i++) out[i] = src[i] !== 0 ? 1 : 0;
      return;
    }
    case 'F64':
      return out.set(new Float64Array(raw));
    case 'I32':
      return out.set(new Int32Array(raw));
    case 'U8':
      return out.set(new Uint8Array(raw));
    default:
      throw new Error(`safetensors: no conversion from dtype ${dtype}`);
  }
}

let halfToFloat: Float32Array | null = null;

/** All 65536 IEEE 754 binary16 values as float32, built on first use (256 KiB). */
function halfTable(): Float32Array {
  if (halfToFloat !== null) return halfToFloat;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    // Zero and subnormals are m * 2^-24; normals are (1 + m/2^10) * 2^(e-15) = (2^10 + m) * 2^(e-25).
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[h] = mantissa === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (0x400 + mantissa) * 2 ** (exponent - 25);
  }
  halfToFloat = table;
  return table;
}

function readExactly(fd: number, target: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < target.length) {
    const length = Math.min(target.length - done, IO_CHUNK);
    const n = fs.readSync(fd, target, done, length, position + done);
    if (n === 0) throw new Error(`unexpected end of file while reading ${what} at byte ${position + done}`);
    done += n;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, IO_CHUNK));
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function requireLittleEndianHost(): void {
  // Tensor bytes are viewed in place as typed arrays, which use the host's byte order.
  if (endianness() !== 'LE') throw new Error('safetensors: only little-endian hosts are supported');
}
