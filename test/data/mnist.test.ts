import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { fashionMnist, mnist } from '../../src/data/mnist.js';
import { parseIdx } from '../../src/data/idx.js';
import type { Dataset } from '../../src/data/dataset.js';

function range(values: Float32Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return [min, max];
}

/** True when every pixel within `border` of the edge of a [1, size, size] image is -1. */
function borderIsBackground(image: Float32Array, size: number, border: number): boolean {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = y >= border && y < size - border && x >= border && x < size - border;
      if (!inside && image[y * size + x] !== -1) return false;
    }
  }
  return true;
}

// First labels of the official files: MNIST train 5 0 4 1, test 7 2 1 0; Fashion-MNIST train 9 0 0 3, test 9 2 1 1.
const cases: [string, (o: object) => Dataset, number[], number[]][] = [
  ['mnist', mnist, [5, 0, 4, 1], [7, 2, 1, 0]],
  ['fashion-mnist', fashionMnist, [9, 0, 0, 3], [9, 2, 1, 1]],
];

for (const [name, load, trainLabels, testLabels] of cases) {
  describe(name, () => {
    const train = load({});
    const test10k = load({ split: 'test' });

    test('60,000 train / 10,000 test, ten classes, labels of the first items', () => {
      assert.equal(train.name, `${name}/train`);
      assert.equal(train.length, 60000);
      assert.equal(test10k.length, 10000);
      assert.equal(train.classNames?.length, 10);
      assert.deepEqual(
        [0, 1, 2, 3].map((i) => train.get(i).label),
        trainLabels,
      );
      assert.deepEqual(
        [0, 1, 2, 3].map((i) => test10k.get(i).label),
        testLabels,
      );
      assert.throws(() => train.get(60000), /index 60000 is out of range \[0, 60000\)/);
    });

    test('size 32 (default): 28x28 padded by 2 with the background -1, values in [-1, 1]', () => {
      assert.deepEqual([test10k.channels, test10k.size], [1, 32]);
      const { image } = test10k.get(0);
      assert.equal(image.length, 32 * 32);
      const [min, max] = range(image);
      assert.equal(min, -1);
      assert.ok(max <= 1 && max > 0.9);
      assert.ok(borderIsBackground(image, 32, 2));
      const raw = load({ size: 28, split: 'test' }).get(0).image;
      assert.equal(raw.length, 28 * 28);
      for (let y = 0; y < 28; y++)
        assert.deepEqual(image.subarray((y + 2) * 32 + 2, (y + 2) * 32 + 30), raw.subarray(y * 28, y * 28 + 28));
    });

    test('other sizes resize the padded image; channels 3 repeats the gray plane', () => {
      const small = load({ size: 16, split: 'test' });
      assert.equal(small.get(0).image.length, 16 * 16);
      assert.ok(borderIsBackground(small.get(0).image, 16, 1));
      const rgb = load({ split: 'test', channels: 3 });
      const { image } = rgb.get(1);
      assert.equal(rgb.channels, 3);
      assert.deepEqual(image.subarray(2048), test10k.get(1).image);
    });
  });
}

test('split all joins train and test', () => {
  const all = mnist({ split: 'all' });
  assert.equal(all.length, 70000);
  assert.equal(all.get(60000).label, 7);
});

test('fashion-mnist: a missing folder names the Debian package', () => {
  assert.throws(() => fashionMnist({ root: '/nonexistent/fashion' }), /apt-get install dataset-fashion-mnist/);
});

test('options are checked', () => {
  assert.throws(() => mnist({ size: 0 }), /size must be a positive integer/);
  assert.throws(() => mnist({ split: 'val' as 'test' }), /unknown split 'val' \(valid: train, test, all\)/);
  assert.throws(() => mnist({ channels: 2 as 1 }), /channels must be 1 or 3/);
});

describe('IDX parsing', () => {
  const header = (type: number, dims: number[]) => {
    const bytes = Buffer.alloc(4 + 4 * dims.length);
    bytes.set([0, 0, type, dims.length]);
    dims.forEach((d, i) => bytes.writeUInt32BE(d, 4 + 4 * i));
    return bytes;
  };

  test('reads shape and data', () => {
    const parsed = parseIdx(Buffer.concat([header(8, [2, 3]), Buffer.from([1, 2, 3, 4, 5, 6])]), 'x');
    assert.deepEqual(parsed.shape, [2, 3]);
    assert.deepEqual([...parsed.data], [1, 2, 3, 4, 5, 6]);
  });

  test('rejects bad magic, other types and wrong lengths, naming the file', () => {
    assert.throws(() => parseIdx(Buffer.from([1, 2, 3, 4]), 'a.idx'), /a\.idx is not an IDX file/);
    assert.throws(() => parseIdx(header(0x0d, [1]), 'b.idx'), /b\.idx holds type 0xd/);
    assert.throws(() => parseIdx(Buffer.concat([header(8, [2, 2]), Buffer.from([1])]), 'c.idx'), /c\.idx has 1 values/);
  });
});
