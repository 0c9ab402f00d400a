import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Tensor } from '../../src/tensor/tensor.js';
import { centerCrop, crop, resize, resizeCenterCrop, resizePlanes, shorterSideSize } from '../../src/io/resize.js';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `at ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

const ramp = (shape: number[]) =>
  Tensor.arange(
    0,
    shape.reduce((a, b) => a * b, 1),
  ).reshape(shape);

describe('resize', () => {
  test('area 64 -> 32 is the mean of each 2x2 block, per channel and batch item', () => {
    const x = Tensor.randn([2, 3, 64, 64]);
    const y = resize(x, 32, 'area');
    assert.deepEqual(y.shape, [2, 3, 32, 32]);
    for (const [plane, i, j] of [
      [0, 0, 0],
      [4, 17, 5],
      [5, 31, 31],
    ]) {
      const at = (r: number, c: number) => x.data[plane * 4096 + r * 64 + c];
      const mean = (at(2 * i, 2 * j) + at(2 * i, 2 * j + 1) + at(2 * i + 1, 2 * j) + at(2 * i + 1, 2 * j + 1)) / 4;
      assert.ok(Math.abs(y.data[plane * 1024 + i * 32 + j] - mean) < 1e-6);
    }
  });

  test('area with a fractional factor weights partial overlaps (3 -> 2: 2/3, 1/3 | 1/3, 2/3)', () => {
    const y = resize(Tensor.from([0, 3, 6], [1, 1, 3]), [1, 2], 'area');
    assertClose(y.data, [1, 5]);
    // Every output is a mean: a constant image stays constant.
    assertClose(resize(Tensor.full([1, 7, 11], 0.25), [3, 5], 'area').data, new Array(15).fill(0.25));
  });

  test('bilinear matches torch.nn.functional.interpolate(align_corners=False)', () => {
    // torch 1.13: interpolate([[0, 1], [2, 3]], size=(4, 4), mode='bilinear', align_corners=False)
    const up = resize(Tensor.from([0, 1, 2, 3], [1, 2, 2]), 4, 'bilinear');
    assertClose(up.data, [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
    // arange(16) ** 1.5 as 4x4, down to 3x3
    const x = Tensor.from(
      Array.from({ length: 16 }, (_, i) => i ** 1.5),
      [1, 4, 4],
    );
    const down = resize(x, 3, 'bilinear');
    assertClose(
      down.data,
      [1.56057, 3.75162, 6.98178, 15.94312, 21.12502, 26.77795, 39.27024, 46.24164, 53.5645],
      1e-4,
    );
  });

  test("'auto' picks area to shrink and bilinear to grow, per axis", () => {
    const x = Tensor.randn([1, 8, 6]);
    const auto = resize(x, [4, 12]);
    const expected = resize(resize(x, [4, 6], 'area'), [4, 12], 'bilinear');
    assertClose(auto.data, expected.data);
    assert.deepEqual(resize(x, [8, 6]).data, x.data);
  });

  test('resizePlanes rounds and clamps into 8-bit output', () => {
    const out = resizePlanes([0, 1, 254, 255], 1, 1, 4, 1, 2, 'area', new Uint8ClampedArray(2));
    assert.deepEqual([...out], [0, 254]); // 0.5 rounds to even, 254.5 to even
  });

  test('errors', () => {
    assert.throws(() => resize(Tensor.zeros([4, 4]), 2), /\[C, H, W\] or \[N, C, H, W\]/);
    assert.throws(() => resize(Tensor.zeros([1, 4, 4]), 0), /positive integers/);
    assert.throws(() => resize(Tensor.zeros([1, 4, 4]), [2.5, 2]), /positive integers/);
  });
});

describe('crops', () => {
  test('crop takes the window at (top, left)', () => {
    const y = crop(ramp([2, 4, 5]), 1, 2, [2, 3]);
    assert.deepEqual(y.shape, [2, 2, 3]);
    assert.deepEqual([...y.data], [7, 8, 9, 12, 13, 14, 27, 28, 29, 32, 33, 34]);
    assert.throws(() => crop(ramp([1, 4, 5]), 3, 0, 2), /does not fit/);
    assert.throws(() => crop(ramp([1, 4, 5]), -1, 0, 2), /does not fit/);
  });

  test('centerCrop rounds the offset down', () => {
    const y = centerCrop(ramp([1, 5, 4]), 2);
    assert.deepEqual([...y.data], [5, 6, 9, 10]);
  });

  test('resizeCenterCrop scales the shorter side, then crops the middle square', () => {
    assert.deepEqual(shorterSideSize(10, 20, 8), [8, 16]);
    assert.deepEqual(shorterSideSize(30, 20, 8), [12, 8]);
    const x = Tensor.randn([3, 10, 20]);
    const y = resizeCenterCrop(x, 8);
    assert.deepEqual(y.shape, [3, 8, 8]);
    assert.deepEqual(y.data, centerCrop(resize(x, [8, 16]), 8).data);
  });
});
