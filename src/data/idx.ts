// The IDX file format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist): a magic number
// 0x00 0x00 <type> <rank>, then <rank> big-endian uint32 dimensions, then the values row-major.
// Only unsigned bytes (type 0x08) occur in these datasets. Files may be gzip'd (.gz).
import * as fs from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;

/** Parses IDX bytes (gzip'd or not); `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`parseIdx: ${source} is not an IDX file (bad magic number)`);
  }
  if (bytes[2] !== UNSIGNED_BYTE) {
    throw new Error(`parseIdx: ${source} holds type 0x${bytes[2].toString(16)}; only unsigned bytes (0x08) are read`);
  }
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) throw new Error(`parseIdx: ${source} is truncated inside its header`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerLength + count) {
    throw new Error(
      `parseIdx: ${source} has ${bytes.length - headerLength} values for shape [${shape.join(', ')}] (${count})`,
    );
  }
  return { shape, data: bytes.subarray(headerLength) };
}

export function readIdx(path: string): IdxArray {
  return parseIdx(fs.readFileSync(path), path);
}
