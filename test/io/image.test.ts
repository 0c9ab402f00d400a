import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

import { Tensor } from '../../src/tensor/tensor.js';
import {
  decodeImage,
  imageGrid,
  rawToTensor,
  readImage,
  saveImage,
  tensorToPng,
  tensorToRaw,
} from '../../src/io/image.js';
import { encodePng, readPngText, type RawImage } from '../../src/io/png.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'ldm-image-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A planar 8-bit image whose value at (c, y, x) is a fixed mix of the coordinates. */
function pattern(channels: number, height: number, width: number): RawImage {
  const data = new Uint8Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = (c * 97 + y * 31 + x * 7) % 256;
    }
  }
  return { channels, height, width, data };
}

describe('PNG encoder', () => {
  for (const channels of [1, 3, 4]) {
    test(`${channels} channel(s) round-trip through pngjs exactly`, () => {
      const image = pattern(channels, 5, 7);
      const decoded = decodeImage(encodePng(image), { channels: channels === 4 ? 4 : channels === 1 ? 1 : 3 });
      assert.deepEqual([decoded.channels, decoded.height, decoded.width], [channels, 5, 7]);
      assert.deepEqual(decoded.data, image.data);
    });
  }

  test('writes a valid file that pngjs reads with CRC checks on, as RGBA', () => {
    const image = pattern(3, 4, 6);
    const png = pngjs.PNG.sync.read(encodePng(image), { checkCRC: true });
    assert.equal(png.width, 6);
    assert.equal(png.height, 4);
    // pixel (y 1, x 2): channels interleaved, opaque
    const at = (1 * 6 + 2) * 4;
    assert.deepEqual([...png.data.subarray(at, at + 4)], [0 * 97 + 31 + 14, 97 + 31 + 14, 194 + 31 + 14, 255]);
  });

  test('text chunks: Latin-1 as tEXt, other text as UTF-8 iTXt, both read back', () => {
    const text = { config: '{"lr": 4.5e-6, "size": 32}', Author: 'Müller', prompt: 'a cat 🐱 in 東京' };
    const bytes = encodePng(pattern(1, 2, 2), text);
    assert.deepEqual(readPngText(bytes), text);
    const latin1 = bytes.toString('latin1');
    assert.ok(latin1.includes('tEXtconfig\0'));
    assert.ok(latin1.includes('iTXtprompt\0'));
    assert.deepEqual(decodeImage(bytes, { channels: 1 }).data, pattern(1, 2, 2).data);
  });

  test('rejects bad keys, channel counts and sizes', () => {
    assert.throws(() => encodePng(pattern(1, 2, 2), { '': 'x' }), /PNG keyword/);
    assert.throws(() => encodePng(pattern(1, 2, 2), { ['k'.repeat(80)]: 'x' }), /PNG keyword/);
    assert.throws(() => encodePng(pattern(1, 2, 2), { 'a\nb': 'x' }), /PNG keyword/);
    assert.throws(() => encodePng({ channels: 5, height: 1, width: 1, data: new Uint8Array(5) }), /5 channels/);
    assert.throws(() => encodePng({ channels: 1, height: 2, width: 2, data: new Uint8Array(3) }), /3 bytes/);
    assert.throws(() => readPngText(Buffer.from('not a png')), /not a PNG/);
  });
});

describe('tensors <-> pixels', () => {
  test('x / 127.5 - 1 in, clamp and round out', () => {
    const raw: RawImage = { channels: 1, height: 1, width: 4, data: Uint8Array.from([0, 1, 128, 255]) };
    const tensor = rawToTensor(raw);
    assert.deepEqual(tensor.shape, [1, 1, 4]);
    assert.deepEqual([...tensor.data], [-1, 1 / 127.5 - 1, 128 / 127.5 - 1, 1].map(Math.fround));
    assert.deepEqual(tensorToRaw(tensor).data, raw.data);
    const wild = Tensor.from([-3, -1, 0, 0.999, 1, 7, NaN], [1, 1, 7]);
    assert.deepEqual([...tensorToRaw(wild).data], [0, 0, 128, 255, 255, 255, 0]);
  });

  test('saveImage and readImage round-trip a [C, H, W] tensor and its text', () => {
    const image = rawToTensor(pattern(3, 6, 5));
    const path = join(dir, 'roundtrip.png');
    saveImage(image, path, { text: { step: '1200' } });
    assert.deepEqual(readImage(path).data, image.data);
    assert.deepEqual(readPngText(fs.readFileSync(path)), { step: '1200' });
  });

  test('alpha is composited over white, or the background given; luma for one channel', () => {
    // RGBA pixels: opaque red, transparent, half-transparent black
    const rgba: RawImage = {
      channels: 4,
      height: 1,
      width: 3,
      data: Uint8Array.from([255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 51]),
    };
    const bytes = encodePng(rgba);
    assert.deepEqual([...decodeImage(bytes).data], [255, 255, 204, 0, 255, 204, 0, 255, 204]);
    assert.deepEqual([...decodeImage(bytes, { background: [0, 0, 0] }).data], [255, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...decodeImage(bytes, { channels: 1 }).data], [Math.round(0.299 * 255), 255, 204]);
  });

  test('JPEG decodes (lossy: within a few levels of a smooth image)', () => {
    const width = 16;
    const height = 8;
    const rgba = Buffer.alloc(width * height * 4);
    for (let i = 0; i < width * height; i++) rgba.set([200, 100, 50, 255], i * 4);
    const path = join(dir, 'flat.jpg');
    fs.writeFileSync(path, jpeg.encode({ data: rgba, width, height }, 95).data);
    const image = readImage(path);
    assert.deepEqual(image.shape, [3, 8, 16]);
    const expected = [200, 100, 50];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < width * height; i++) {
        assert.ok(Math.abs((image.data[c * width * height + i] + 1) * 127.5 - expected[c]) <= 3);
      }
    }
  });

  test('errors name the file', () => {
    const garbage = join(dir, 'garbage.png');
    fs.writeFileSync(garbage, Buffer.from('GIF89a....'));
    assert.throws(
      () => readImage(garbage),
      (e: Error) => e.message.includes(garbage) && /neither PNG nor JPEG/.test(e.message),
    );
    const broken = join(dir, 'broken.png');
    fs.writeFileSync(broken, encodePng(pattern(3, 4, 4)).subarray(0, 40));
    assert.throws(
      () => readImage(broken),
      (e: Error) => e.message.includes(`cannot decode ${broken}`),
    );
    assert.throws(() => readImage(join(dir, 'missing.png')), /cannot read .*missing\.png/);
  });
});

describe('imageGrid', () => {
  // Five 1x2x3 images, image n filled with n + 1.
  const images = new Tensor(
    Float32Array.from({ length: 5 * 6 }, (_, i) => Math.floor(i / 6) + 1),
    [5, 1, 2, 3],
  );

  test('torchvision layout: rows of nrow, padding around and between', () => {
    const grid = imageGrid(images, { nrow: 2, padding: 1, padValue: -1 });
    assert.deepEqual(grid.shape, [1, 3 * (2 + 1) + 1, 2 * (3 + 1) + 1]);
    const at = (y: number, x: number) => grid.data[y * 9 + x];
    assert.equal(at(0, 0), -1);
    assert.equal(at(1, 1), 1); // image 0, top-left
    assert.equal(at(2, 3), 1); // image 0, bottom-right
    assert.equal(at(1, 4), -1); // padding between columns
    assert.equal(at(1, 5), 2); // image 1
    assert.equal(at(4, 1), 3); // image 2, second row
    assert.equal(at(7, 1), 5); // image 4, third row
    assert.equal(at(7, 5), -1); // the empty cell keeps the pad value
  });

  test('defaults: nrow 8, padding 2, pad value 0; one image comes back unpadded', () => {
    const grid = imageGrid(images);
    assert.deepEqual(grid.shape, [1, 2 + 2 + 2, 5 * (3 + 2) + 2]);
    assert.equal(grid.data[0], 0);
    assert.deepEqual(imageGrid(new Tensor(images.data.slice(0, 6), [1, 1, 2, 3])).shape, [1, 2, 3]);
  });

  test('tensorToPng tiles a batch; rejects bad shapes and options', () => {
    const png = pngjs.PNG.sync.read(
      tensorToPng(
        new Tensor(
          images.data.map((v) => v / 10),
          images.shape,
        ),
        { nrow: 5, padding: 0 },
      ),
    );
    assert.deepEqual([png.width, png.height], [15, 2]);
    assert.throws(() => imageGrid(images.reshape([5, 6])), /\[N, C, H, W\]/);
    assert.throws(() => imageGrid(images, { nrow: 0 }), /nrow/);
    assert.throws(() => imageGrid(images, { padding: -1 }), /padding/);
    assert.throws(() => tensorToPng(Tensor.zeros([2, 4, 4])), /C = 1 or 3/);
  });
});
