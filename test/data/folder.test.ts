import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import jpeg from 'jpeg-js';

import { imageFolder } from '../../src/data/folder.js';
import { encodePng, type RawImage } from '../../src/io/png.js';
import { Generator } from '../../src/tensor/random.js';

const root = fs.mkdtempSync(join(tmpdir(), 'ldm-folder-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** An RGB image with value (c, y, x) = 10 c + 3 y + x, so crops are recognisable. */
function gradient(height: number, width: number): RawImage {
  const data = new Uint8Array(3 * height * width);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = 10 * c + 3 * y + x;
  }
  return { channels: 3, height, width, data };
}

function write(relativePath: string, contents: Uint8Array | string): string {
  const path = join(root, relativePath);
  fs.mkdirSync(join(path, '..'), { recursive: true });
  fs.writeFileSync(path, contents);
  return path;
}

const photos = join(root, 'photos');
write('photos/a.png', encodePng(gradient(8, 12))); // wide: centre crop of 8x8 starts at x = 2
write('photos/a.txt', 'a wide gradient\n');
write('photos/b.PNG', encodePng(gradient(8, 8)));
write('photos/b.txt', 'first caption\n\nsecond caption\r\n');
write('photos/nested/c.jpg', jpeg.encode({ data: Buffer.alloc(16 * 16 * 4, 128), width: 16, height: 16 }, 95).data);
write('photos/.hidden.png', 'not an image');
write('photos/notes.md', 'ignored');

describe('folder dataset', () => {
  const dataset = imageFolder(photos, { size: 8, split: 'all' });

  test('finds images recursively in path order, skipping hidden and other files', () => {
    assert.equal(dataset.length, 3);
    assert.equal(dataset.name, `folder:${photos}/all`);
    assert.deepEqual([dataset.channels, dataset.size], [3, 8]);
  });

  test('centre crop of the resized image, in [-1, 1]; captions from .txt files', () => {
    const a = dataset.get(0);
    assert.equal(a.image.length, 3 * 8 * 8);
    // (c 1, y 3, x 0) of the crop is (c 1, y 3, x 2) of the image: 10 + 9 + 2.
    assert.equal(a.image[64 + 3 * 8], Math.fround(21 / 127.5 - 1));
    assert.equal(a.caption, 'a wide gradient');
    assert.deepEqual(dataset.get(1).caption, ['first caption', 'second caption']);
    const c = dataset.get(2);
    assert.equal(c.caption, undefined);
    assert.ok(c.image.every((v) => Math.abs(v - (128 / 127.5 - 1)) < 3 / 127.5)); // 16 -> 8 area of a JPEG
  });

  test('random crop draws from the generator: reproducible, inside the image, centre without one', () => {
    const random = imageFolder(photos, { size: 8, split: 'all', crop: 'random' });
    const lefts = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const image = random.get(0, new Generator(seed)).image;
      assert.deepEqual(image, random.get(0, new Generator(seed)).image);
      const left = Math.round((image[0] + 1) * 127.5); // value at (0, 0, x 0) is the window's left
      assert.ok(left >= 0 && left <= 4);
      lefts.add(left);
    }
    assert.ok(lefts.size > 2);
    assert.deepEqual(random.get(0).image, dataset.get(0).image);
  });

  test('resizes the shorter side first; channels 1 is luma', () => {
    const small = imageFolder(photos, { size: 4, split: 'all', channels: 1 });
    const { image } = small.get(1); // 8x8 -> 4x4 area
    assert.equal(image.length, 16);
    const luma = (y: number, x: number) => 0.299 * (3 * y + x) + 0.587 * (10 + 3 * y + x) + 0.114 * (20 + 3 * y + x);
    const mean = (luma(0, 0) + luma(0, 1) + luma(1, 0) + luma(1, 1)) / 4;
    assert.ok(Math.abs((image[0] + 1) * 127.5 - mean) <= 0.51);
  });

  test('class labels from first-level subfolders (ImageFolder layout), none when an image lies at the top', () => {
    write('classes/dog/1.png', encodePng(gradient(8, 8)));
    write('classes/dog/deep/2.png', encodePng(gradient(8, 8)));
    write('classes/cat/3.png', encodePng(gradient(8, 8)));
    const labelled = imageFolder(join(root, 'classes'), { size: 8, split: 'all' });
    assert.deepEqual(labelled.classNames, ['cat', 'dog']);
    assert.deepEqual(
      Array.from({ length: labelled.length }, (_, i) => labelled.get(i).label),
      [0, 1, 1],
    );
    assert.equal(dataset.classNames, undefined);
    assert.equal(dataset.get(0).label, undefined);
  });

  test('splits: every 10th image is test', () => {
    const many = join(root, 'many');
    for (let i = 0; i < 12; i++) write(`many/${String(i).padStart(2, '0')}.png`, encodePng(gradient(4, 4)));
    assert.equal(imageFolder(many, { size: 4 }).length, 11);
    assert.equal(imageFolder(many, { size: 4, split: 'test' }).length, 1);
    assert.equal(imageFolder(many, { size: 4, split: 'all' }).length, 12);
    assert.equal(imageFolder(photos, { size: 4 }).length, 3);
  });

  test('errors: no size, not a folder, no images, empty split, unreadable image', () => {
    assert.throws(() => imageFolder(photos), /needs a size/);
    assert.throws(() => imageFolder(join(root, 'nope'), { size: 8 }), /is not a folder/);
    fs.mkdirSync(join(root, 'empty'));
    write('empty/readme.txt', 'no images here');
    assert.throws(() => imageFolder(join(root, 'empty'), { size: 8 }), /no images \(\.png, \.jpg, \.jpeg\) under/);
    assert.throws(() => imageFolder(photos, { size: 8, split: 'test' }), /test split is empty \(3 images/);
    const bad = write('bad/broken.jpg', 'definitely not a jpeg');
    const broken = imageFolder(join(root, 'bad'), { size: 8 });
    assert.throws(
      () => broken.get(0),
      (e: Error) => e.message.includes(bad),
    );
    assert.throws(() => imageFolder(photos, { size: 8, crop: 'middle' as 'center' }), /crop must be/);
  });
});
