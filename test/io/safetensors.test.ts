import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { SafetensorsFile, readSafetensors, writeSafetensors, type TensorRecord } from '../../src/io/safetensors.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'ldm-safetensors-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function tempPath(): string {
  return join(dir, `t${fileCount++}.safetensors`);
}

/** Writes a safetensors file by hand: length prefix, the given header text, then `data`. */
function writeRaw(header: string | object, data: Uint8Array = new Uint8Array(0)): string {
  const path = tempPath();
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path, Buffer.concat([prefix, json, data]));
  return path;
}

function u16Bytes(values: number[]): Uint8Array {
  const bytes = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => bytes.writeUInt16LE(v, i * 2));
  return bytes;
}

function readOne(path: string, name: string): TensorRecord {
  const file = SafetensorsFile.open(path);
  try {
    return file.read(name);
  } finally {
    file.close();
  }
}

describe('safetensors', () => {
  test('round trip keeps shapes, values and metadata; header is sorted and padded', () => {
    const path = tempPath();
    const tensors = {
      'b.weight': { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, -0, 1e-30]) },
      'a.bias': { shape: [3], data: Float32Array.from([Infinity, -Infinity, NaN]) },
      scalar: { shape: [], data: Float32Array.from([7]) },
      empty: { shape: [0, 4], data: new Float32Array(0) },
    };
    writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode' });

    const bytes = fs.readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0);
    const headerText = bytes.subarray(8, 8 + headerLength).toString('utf8');
    assert.match(headerText, /^\{"__metadata__":.*\} *$/);
    const names = Object.keys(JSON.parse(headerText)).filter((k) => k !== '__metadata__');
    assert.deepEqual(names, ['a.bias', 'b.weight', 'empty', 'scalar']);

    const file = SafetensorsFile.open(path);
    assert.deepEqual(file.metadata, { format: 'pt', note: 'ünïcode' });
    assert.deepEqual(file.info('b.weight'), { dtype: 'F32', shape: [2, 3], byteLength: 24 });
    file.close();

    const read = readSafetensors(path);
    assert.equal(read.size, 4);
    for (const [name, record] of Object.entries(tensors)) {
      assert.deepEqual(read.get(name)?.shape, record.shape, name);
      assert.deepEqual(read.get(name)?.data, record.data, name);
    }
    assert.ok(Object.is(read.get('b.weight')?.data[4], -0));
  });

  test('integer-like names and a Map input keep byte-order sorting', () => {
    const path = tempPath();
    const tensors = new Map<string, TensorRecord>([
      ['10', { shape: [1], data: Float32Array.from([10]) }],
      ['2', { shape: [1], data: Float32Array.from([2]) }],
    ]);
    writeSafetensors(path, tensors);
    const file = SafetensorsFile.open(path);
    assert.deepEqual(file.keys(), ['10', '2']);
    assert.deepEqual(file.metadata, {});
    assert.deepEqual(file.read('2').data, Float32Array.from([2]));
    file.close();
  });

  test('F16 reads exactly, including subnormals, infinities, NaN and negative zero', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504], // largest finite
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x83ff, -1023 * 2 ** -24], // largest subnormal, negative
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x8000, -0],
      [0x0000, 0],
      [0x7e00, NaN],
      [0xfc01, NaN],
    ];
    const path = writeRaw(
      { h: { dtype: 'F16', shape: [cases.length], data_offsets: [0, cases.length * 2] } },
      u16Bytes(cases.map(([bits]) => bits)),
    );
    const { shape, data } = readOne(path, 'h');
    assert.deepEqual(shape, [cases.length]);
    cases.forEach(([bits, expected], i) =>
      assert.ok(Object.is(data[i], expected), `0x${bits.toString(16)}: ${data[i]}`),
    );
  });

  test('F16 writing rounds to nearest even, keeps subnormals, overflows to infinity, and reads back', () => {
    const cases: [number, number][] = [
      [1 / 3, 0.333251953125],
      [65504, 65504],
      [65519, 65504], // below the midpoint to 65536
      [65520, Infinity], // the midpoint: ties to even, which is infinity
      [1 + 2 ** -11, 1], // tie between 1 and 1 + 2^-10: even is 1
      [1 + 3 * 2 ** -11, 1 + 2 ** -9], // tie: even is 1 + 2^-9
      [-2.5, -2.5],
      [2 ** -24, 2 ** -24], // smallest subnormal
      [1.5 * 2 ** -24, 2 ** -23], // tie between subnormals 1 and 2: even is 2
      [2 ** -25, 0], // tie between 0 and the smallest subnormal: even is 0
      [2 ** -25 * 1.25, 2 ** -24],
      [1e-9, 0],
      [-0, -0],
      [2 ** -14 * (1 - 2 ** -12), 2 ** -14], // rounds up into the smallest normal
      [-Infinity, -Infinity],
      [NaN, NaN],
    ];
    const path = join(dir, 'half.safetensors');
    writeSafetensors(
      path,
      { h: { shape: [cases.length], data: Float32Array.from(cases.map(([v]) => v)) } },
      undefined,
      {
        dtype: 'F16',
      },
    );
    const file = SafetensorsFile.open(path);
    assert.equal(file.info('h').dtype, 'F16');
    assert.equal(file.info('h').byteLength, 2 * cases.length);
    const { data } = file.read('h');
    file.close();
    cases.forEach(([value, expected], i) => assert.ok(Object.is(data[i], expected), `${value}: got ${data[i]}`));
  });

  test('BF16 reads exactly, including subnormals, infinities, NaN and negative zero', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x7f7f, 255 * 2 ** 120], // largest finite: (1 + 127/128) * 2^127
      [0x0080, 2 ** -126], // smallest normal
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Infinity],
      [0xff80, -Infinity],
      [0x8000, -0],
      [0x7fc0, NaN],
    ];
    const path = writeRaw(
      { b: { dtype: 'BF16', shape: [2, cases.length / 2], data_offsets: [0, cases.length * 2] } },
      u16Bytes(cases.map(([bits]) => bits)),
    );
    const { shape, data } = readOne(path, 'b');
    assert.deepEqual(shape, [2, cases.length / 2]);
    cases.forEach(([bits, expected], i) =>
      assert.ok(Object.is(data[i], expected), `0x${bits.toString(16)}: ${data[i]}`),
    );
  });

  test('F64 and integer dtypes convert to float32', () => {
    const f64 = Buffer.from(Float64Array.from([0.1, -1e300, 2.5]).buffer);
    const i64 = Buffer.from(BigInt64Array.from([-3n, 1000n]).buffer);
    const i32 = Buffer.from(Int32Array.from([-7, 16777216]).buffer);
    const u8 = Uint8Array.from([0, 255]);
    const bool = Uint8Array.from([0, 1, 2]);
    const data = Buffer.concat([f64, i64, i32, u8, bool]);
    let offset = 0;
    const entry = (dtype: string, count: number, bytes: number): object => {
      const offsets = [offset, offset + count * bytes];
      offset += count * bytes;
      return { dtype, shape: [count], data_offsets: offsets };
    };
    const path = writeRaw(
      {
        f64: entry('F64', 3, 8),
        i64: entry('I64', 2, 8),
        i32: entry('I32', 2, 4),
        u8: entry('U8', 2, 1),
        bool: entry('BOOL', 3, 1),
      },
      data,
    );
    const read = readSafetensors(path);
    assert.deepEqual(read.get('f64')?.data, Float32Array.from([0.1, -Infinity, 2.5]));
    assert.deepEqual(read.get('i64')?.data, Float32Array.from([-3, 1000]));
    assert.deepEqual(read.get('i32')?.data, Float32Array.from([-7, 16777216]));
    assert.deepEqual(read.get('u8')?.data, Float32Array.from([0, 255]));
    assert.deepEqual(read.get('bool')?.data, Float32Array.from([0, 1, 1]));
  });

  test('reads a tensor placed beyond 4 GiB in a sparse file', () => {
    // A U8 filler tensor covers the gap, as in a real multi-gigabyte checkpoint; the hole in
    // the sparse file costs no disk space, and the filler is never read.
    const position = 2 ** 32 + 2 ** 20; // past both 2^31 and 2^32
    const values = Float32Array.from([1.5, -2.25, 3, 1e-7]);
    const header = Buffer.from(
      JSON.stringify({
        filler: { dtype: 'U8', shape: [position], data_offsets: [0, position] },
        far: { dtype: 'F32', shape: [2, 2], data_offsets: [position, position + 16] },
      }).padEnd(128, ' '),
    );
    const path = tempPath();
    const fd = fs.openSync(path, 'w');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    fs.writeSync(fd, prefix, 0, 8, 0);
    fs.writeSync(fd, header, 0, header.length, 8);
    const bufferStart = 8 + header.length;
    fs.ftruncateSync(fd, bufferStart + position + 16);
    fs.writeSync(fd, new Uint8Array(values.buffer), 0, 16, bufferStart + position);
    fs.closeSync(fd);

    const file = SafetensorsFile.open(path);
    assert.deepEqual(file.keys(), ['filler', 'far']);
    assert.deepEqual(file.info('filler'), { dtype: 'U8', shape: [position], byteLength: position });
    const far = file.read('far');
    assert.deepEqual(far, { shape: [2, 2], data: values });
    file.close();
    assert.throws(() => file.read('far'), /is closed/);
    fs.rmSync(path);
  });

  test('errors name the file and the tensor', () => {
    const f32 = (offsets: number[], shape = [2]): object => ({ w: { dtype: 'F32', shape, data_offsets: offsets } });
    const eight = new Uint8Array(8);
    const cases: [string, RegExp][] = [];

    const tooShort = tempPath();
    fs.writeFileSync(tooShort, new Uint8Array(5));
    cases.push([tooShort, /5 bytes long, too short/]);

    const pastEnd = tempPath();
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(1000n);
    fs.writeFileSync(pastEnd, Buffer.concat([prefix, Buffer.from('{}')]));
    cases.push([pastEnd, /header length 1000 runs past the end of the file \(10 bytes\)/]);

    cases.push([writeRaw('{"w": {"dtype": "F32",'), /header is not valid JSON/]);
    cases.push([writeRaw('[1, 2]'), /header must be a JSON object/]);
    cases.push([
      writeRaw(f32([0, 16]), eight),
      /tensor "w" .*data_offsets \[0, 16\] fall outside the data buffer of 8 bytes/,
    ]);
    cases.push([writeRaw(f32([4, 2]), eight), /tensor "w" .*fall outside/]);
    cases.push([writeRaw(f32([0, 8], [3]), eight), /tensor "w" .*span 8 bytes but F32 \[3\] needs 12/]);
    cases.push([writeRaw(f32([0, 8], [-2]), eight), /tensor "w" .*invalid shape \[-2\]/]);
    cases.push([writeRaw(f32([0]), eight), /tensor "w" .*data_offsets must be two integers/]);
    const fp8 = { w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } };
    cases.push([writeRaw(fp8, eight), /tensor "w" .*unsupported dtype "F8_E4M3"/]);
    const proto = { w: { dtype: 'toString', shape: [8], data_offsets: [0, 8] } };
    cases.push([writeRaw(proto, eight), /unsupported dtype "toString"/]);

    for (const [path, pattern] of cases) {
      assert.throws(
        () => SafetensorsFile.open(path),
        (err: Error) => err.message.includes(path) && pattern.test(err.message),
        `${path}: ${pattern}`,
      );
    }
  });

  test('a missing tensor lists some available names', () => {
    const tensors: Record<string, TensorRecord> = {};
    for (let i = 0; i < 8; i++) tensors[`layer${i}.weight`] = { shape: [1], data: Float32Array.from([i]) };
    const path = tempPath();
    writeSafetensors(path, tensors);
    const file = SafetensorsFile.open(path);
    assert.throws(
      () => file.read('layer9.weight'),
      (err: Error) =>
        err.message.includes(path) &&
        /no tensor "layer9.weight"; it has "layer0.weight", .*"layer4.weight", \.\.\. \(8 in all\)/.test(err.message),
    );
    assert.throws(() => file.info('nope'), /no tensor "nope"/);
    file.close();
  });

  test('a failed write leaves the existing file intact and no temporary file behind', () => {
    const path = tempPath();
    const original = { w: { shape: [2], data: Float32Array.from([1, 2]) } };
    writeSafetensors(path, original);
    const before = fs.readFileSync(path);

    // Invalid input is rejected before anything is written.
    const wrongLength = { w: { shape: [2, 2], data: Float32Array.from([1, 2, 3]) } };
    assert.throws(
      () => writeSafetensors(path, wrongLength),
      /tensor "w": shape \[2, 2\] has 4 elements but data has 3/,
    );
    const badShape = { w: { shape: [1.5], data: Float32Array.from([1]) } };
    assert.throws(() => writeSafetensors(path, badShape), /shape must be an array of non-negative integers/);
    assert.throws(
      () => writeSafetensors(path, original, { n: 1 as unknown as string }),
      /metadata "n" must be a string/,
    );
    assert.deepEqual(fs.readFileSync(path), before);

    // A failure after the temporary file is written: renaming onto a non-empty directory fails.
    const blocked = join(dir, 'blocked');
    fs.mkdirSync(blocked);
    fs.writeFileSync(join(blocked, 'keep'), 'x');
    assert.throws(() => writeSafetensors(blocked, original));
    assert.deepEqual(fs.readdirSync(blocked), ['keep']);

    const leftovers = fs.readdirSync(dir).filter((name) => name.includes('.tmp-'));
    assert.deepEqual(leftovers, []);
    assert.deepEqual(readSafetensors(path).get('w'), original.w);
  });
});
