// PSNR and SSIM against PyTorch computations of the same definitions (values below), and
// their fixed points.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Tensor } from '../../src/tensor/tensor.js';
import { gaussianKernel1d, psnr, ssim } from '../../src/train/metrics.js';

/**
 * a = sin(0.37 i + 0.1), b = a + 0.25 sin(1.7 i) over i = 0 .. 1247, float32, shape [2, 3, 16, 13].
 * References from torch (float64): the Gaussian window g gᵀ (11, sigma 1.5) applied with
 * F.conv2d (no padding) to the images mapped to [0, 1], SSIM map averaged per channel then
 * over channels; PSNR = 10 log10(1 / MSE) per image.
 */
const SHAPE = [2, 3, 16, 13];
const SSIM_TORCH = [0.9737347252505133, 0.9734740872988022];
const PSNR_TORCH = [21.84767323374313, 21.870430594667205];

function images(): [Tensor, Tensor] {
  const n = SHAPE.reduce((x, y) => x * y);
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = Math.sin(0.37 * i + 0.1);
    b[i] = a[i] + 0.25 * Math.sin(1.7 * i);
  }
  return [new Tensor(a, SHAPE), new Tensor(b, SHAPE)];
}

describe('metrics', () => {
  test('SSIM and PSNR match the PyTorch reference', () => {
    const [a, b] = images();
    const s = ssim(a, b);
    s.perImage.forEach((v, i) => assert.ok(Math.abs(v - SSIM_TORCH[i]) < 1e-9, `ssim ${v} vs ${SSIM_TORCH[i]}`));
    assert.ok(Math.abs(s.mean - (SSIM_TORCH[0] + SSIM_TORCH[1]) / 2) < 1e-9);
    const p = psnr(a, b);
    p.perImage.forEach((v, i) => assert.ok(Math.abs(v - PSNR_TORCH[i]) < 1e-9, `psnr ${v} vs ${PSNR_TORCH[i]}`));
  });

  test('identical images: SSIM 1 and PSNR at its 100 dB cap; SSIM is symmetric', () => {
    const [a, b] = images();
    assert.ok(Math.abs(ssim(a, a).mean - 1) < 1e-12);
    assert.equal(psnr(a, a).mean, 100);
    assert.ok(Math.abs(ssim(a, b).mean - ssim(b, a).mean) < 1e-12);
  });

  test('values outside [-1, 1] are clamped as pixels would be', () => {
    const x = Tensor.full([1, 1, 12, 12], 1);
    assert.equal(psnr(x, Tensor.full([1, 1, 12, 12], 3)).mean, 100);
    assert.ok(Math.abs(psnr(x, Tensor.full([1, 1, 12, 12], 0)).mean - 10 * Math.log10(4)) < 1e-12);
  });

  test('the window sums to 1 and peaks at its centre', () => {
    const g = gaussianKernel1d();
    assert.equal(g.length, 11);
    assert.ok(Math.abs(g.reduce((s, v) => s + v, 0) - 1) < 1e-15);
    assert.equal(Math.max(...g), g[5]);
  });

  test('errors name the shapes', () => {
    assert.throws(
      () => ssim(Tensor.zeros([1, 1, 8, 8]), Tensor.zeros([1, 1, 8, 8])),
      /smaller than the 11 x 11 window/,
    );
    assert.throws(
      () => psnr(Tensor.zeros([1, 1, 8, 8]), Tensor.zeros([1, 1, 8, 9])),
      /\[1, 1, 8, 8\] and \[1, 1, 8, 9\]/,
    );
  });
});
