// The native matmul and conv2d kernels (native/matmul.cc, native/conv2d.cc and its headers)
// against reference loops written from the definitions in src/tensor/backend.ts, in float64.
// The cases reach every code path: serial and threaded GEMM (batch split and panel split),
// im2col, the 1x1 shortcut and the batch-joined 1x1 of small images, and both Winograd
// F(2x2, 3x3) paths (3x3, stride 1, at least 16 channels per group; channel-vectorised on maps
// up to 8 wide, tile-vectorised on wider ones) with odd sizes, asymmetric and large padding,
// groups and small images.
// Each case runs on one thread and on two.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Backend, Conv2dParams, MatmulParams } from '../../src/tensor/backend.js';
import { createNativeBackend, nativeAddonPath } from '../../src/tensor/backends/native.js';

const skip = nativeAddonPath() === null ? 'native addon not built (npm run install)' : false;
let backend: Backend;
let defaultThreads = 1;
before(() => {
  if (skip) return;
  backend = createNativeBackend();
  defaultThreads = backend.getNumThreads();
});
after(() => {
  if (!skip) backend.setNumThreads(defaultThreads);
});

/** Deterministic values in [-1, 1) (a 32-bit LCG), so failures reproduce. */
function values(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/** max |actual - expected| / max |expected|. */
function relativeError(actual: Float32Array, expected: Float64Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Number.isFinite(actual[i]), `element ${i} is ${actual[i]}`);
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

function assertClose(actual: Float32Array, expected: Float64Array, label: string): void {
  const error = relativeError(actual, expected);
  assert.ok(error < 1e-5, `${label}: relative error ${error.toExponential(2)}`);
}

const THREADS = [1, 2];

// ---------------------------------------------------------------- matmul

function referenceMatmul(a: Float32Array, b: Float32Array, p: MatmulParams, bias: Float32Array | null): Float64Array {
  const out = new Float64Array(p.batch * p.m * p.n);
  for (let batch = 0; batch < p.batch; batch++) {
    const [aBase, bBase] = [batch * p.aBatchStride, batch * p.bBatchStride];
    for (let i = 0; i < p.m; i++) {
      for (let j = 0; j < p.n; j++) {
        let sum = bias === null ? 0 : bias[j];
        for (let l = 0; l < p.k; l++) {
          const aValue = a[aBase + (p.transA ? l * p.m + i : i * p.k + l)];
          const bValue = b[bBase + (p.transB ? j * p.k + l : l * p.n + j)];
          sum += aValue * bValue;
        }
        out[(batch * p.m + i) * p.n + j] = sum;
      }
    }
  }
  return out;
}

describe('native matmul vs reference loops', { skip }, () => {
  // [batch, m, n, k, broadcast]: small (serial), above the threading threshold (2^20
  // multiply-adds) with the batch split and the panel split (batch 1 and 3), deep products
  // with too few rows and columns to split (cut along k instead), a GEMV each way, and an
  // empty inner dimension. Every case runs without and with a bias.
  const shapes: [number, number, number, number, 'a' | 'b' | null][] = [
    [2, 5, 7, 3, null],
    [4, 6, 5, 9, 'a'],
    [3, 7, 4, 6, 'b'],
    [4, 40, 48, 50, null],
    [4, 64, 80, 60, 'a'],
    [1, 130, 64, 128, null],
    [3, 128, 40, 70, 'b'],
    [1, 32, 32, 4096, null],
    [1, 20, 36, 1500, 'b'],
    [1, 1, 200, 64, null],
    [2, 130, 1, 64, 'a'],
    [2, 3, 4, 0, null],
  ];
  for (const [batch, m, n, k, broadcast] of shapes) {
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const p: MatmulParams = {
        batch,
        m,
        n,
        k,
        transA,
        transB,
        aBatchStride: broadcast === 'a' ? 0 : m * k,
        bBatchStride: broadcast === 'b' ? 0 : k * n,
      };
      test(`batch ${batch}, ${m}x${k} @ ${k}x${n}, transA ${transA}, transB ${transB}, broadcast ${broadcast}`, () => {
        const a = values((broadcast === 'a' ? 1 : batch) * m * k, 1);
        const b = values((broadcast === 'b' ? 1 : batch) * k * n, 2);
        for (const bias of [null, values(n, 3)]) {
          const expected = referenceMatmul(a, b, p, bias);
          for (const threads of THREADS) {
            backend.setNumThreads(threads);
            const out = new Float32Array(batch * m * n).fill(NaN);
            backend.matmul(a, b, out, p, bias);
            assertClose(out, expected, `${threads} threads, ${bias === null ? 'no bias' : 'bias'}`);
          }
        }
      });
    }
  }

  test('a buffer shorter than the sizes say throws instead of reading past it', () => {
    const p: MatmulParams = {
      batch: 2,
      m: 4,
      n: 4,
      k: 4,
      transA: false,
      transB: false,
      aBatchStride: 16,
      bBatchStride: 0,
    };
    assert.throws(
      () => backend.matmul(new Float32Array(31), new Float32Array(16), new Float32Array(32), p, null),
      RangeError,
    );
    assert.throws(
      () => backend.matmul(new Float32Array(32), new Float32Array(15), new Float32Array(32), p, null),
      RangeError,
    );
    assert.throws(
      () => backend.matmul(new Float32Array(32), new Float32Array(16), new Float32Array(31), p, null),
      RangeError,
    );
    assert.throws(
      () => backend.matmul(new Float32Array(32), new Float32Array(16), new Float32Array(32), { ...p, m: -1 }, null),
      RangeError,
    );
    assert.throws(
      () => backend.matmul(new Float32Array(32), new Float32Array(16), new Float32Array(32), p, new Float32Array(3)),
      RangeError,
    );
  });
});

// ---------------------------------------------------------------- conv2d

interface ConvOutputs {
  out: Float64Array;
  gx: Float64Array;
  gw: Float64Array;
}

/** Forward, grad input and grad weight straight from the definition, one loop nest. */
function referenceConv(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  gy: Float32Array,
  p: Conv2dParams,
): ConvOutputs {
  const [inG, outG] = [p.cIn / p.groups, p.cOut / p.groups];
  const out = new Float64Array(p.n * p.cOut * p.outH * p.outW);
  const gx = new Float64Array(x.length);
  const gw = new Float64Array(w.length);
  for (let n = 0; n < p.n; n++) {
    for (let oc = 0; oc < p.cOut; oc++) {
      const group = Math.floor(oc / outG);
      for (let oy = 0; oy < p.outH; oy++) {
        for (let ox = 0; ox < p.outW; ox++) {
          const o = ((n * p.cOut + oc) * p.outH + oy) * p.outW + ox;
          let sum = bias === null ? 0 : bias[oc];
          for (let ci = 0; ci < inG; ci++) {
            for (let ky = 0; ky < p.kh; ky++) {
              const iy = oy * p.strideH - p.padTop + ky * p.dilationH;
              if (iy < 0 || iy >= p.h) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ix = ox * p.strideW - p.padLeft + kx * p.dilationW;
                if (ix < 0 || ix >= p.w) continue;
                const xi = ((n * p.cIn + group * inG + ci) * p.h + iy) * p.w + ix;
                const wi = ((oc * inG + ci) * p.kh + ky) * p.kw + kx;
                sum += x[xi] * w[wi];
                gx[xi] += gy[o] * w[wi];
                gw[wi] += gy[o] * x[xi];
              }
            }
          }
          out[o] = sum;
        }
      }
    }
  }
  return { out, gx, gw };
}

interface ConvCase {
  name: string;
  n: number;
  cIn: number;
  h: number;
  w: number;
  cOut: number;
  kernel?: [number, number];
  stride?: [number, number];
  /** [top, left, bottom, right] */
  pad?: [number, number, number, number];
  dilation?: [number, number];
  groups?: number;
  bias?: boolean;
}

function convParams(c: ConvCase): Conv2dParams {
  const [kh, kw] = c.kernel ?? [3, 3];
  const [strideH, strideW] = c.stride ?? [1, 1];
  const [padTop, padLeft, padBottom, padRight] = c.pad ?? [0, 0, 0, 0];
  const [dilationH, dilationW] = c.dilation ?? [1, 1];
  const outH = Math.floor((c.h + padTop + padBottom - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((c.w + padLeft + padRight - dilationW * (kw - 1) - 1) / strideW) + 1;
  const { n, cIn, h, w, cOut } = c;
  return {
    n,
    cIn,
    h,
    w,
    cOut,
    kh,
    kw,
    strideH,
    strideW,
    padTop,
    padLeft,
    dilationH,
    dilationW,
    groups: c.groups ?? 1,
    outH,
    outW,
  };
}

const CONV_CASES: ConvCase[] = [
  // im2col
  { name: 'im2col 3x3 pad 1', n: 2, cIn: 3, h: 9, w: 11, cOut: 4, pad: [1, 1, 1, 1] },
  {
    name: 'im2col stride 2, pad (0, 0, 1, 1) as in Downsample',
    n: 2,
    cIn: 8,
    h: 10,
    w: 10,
    cOut: 8,
    stride: [2, 2],
    pad: [0, 0, 1, 1],
  },
  { name: 'im2col stride 2 on odd sizes', n: 1, cIn: 6, h: 9, w: 7, cOut: 5, stride: [2, 2], pad: [0, 0, 1, 1] },
  { name: 'im2col dilation 2', n: 2, cIn: 4, h: 10, w: 9, cOut: 6, pad: [2, 2, 2, 2], dilation: [2, 2] },
  { name: 'im2col groups 2', n: 2, cIn: 8, h: 7, w: 8, cOut: 6, pad: [1, 1, 1, 1], groups: 2 },
  { name: 'im2col depthwise', n: 2, cIn: 8, h: 7, w: 6, cOut: 8, pad: [1, 1, 1, 1], groups: 8, bias: false },
  {
    name: 'im2col 5x3 kernel, stride (3, 2), uneven padding',
    n: 1,
    cIn: 3,
    h: 14,
    w: 10,
    cOut: 2,
    kernel: [5, 3],
    stride: [3, 2],
    pad: [2, 1, 0, 3],
  },
  { name: 'im2col padding wider than the image', n: 1, cIn: 2, h: 3, w: 3, cOut: 2, pad: [3, 3, 3, 3] },
  { name: 'im2col threaded (5x5 kernel)', n: 2, cIn: 8, h: 20, w: 18, cOut: 16, kernel: [5, 5], pad: [2, 2, 2, 2] },
  // the 1x1 shortcut, and a 1x1 that needs im2col
  { name: '1x1', n: 3, cIn: 16, h: 6, w: 5, cOut: 12, kernel: [1, 1] },
  { name: '1x1 threaded', n: 2, cIn: 64, h: 12, w: 12, cOut: 64, kernel: [1, 1], bias: false },
  { name: '1x1 stride 2', n: 2, cIn: 5, h: 7, w: 9, cOut: 4, kernel: [1, 1], stride: [2, 2] },
  // 1x1 over the whole batch on small images (an odd number of 16-pixel runs; groups)
  { name: '1x1 batch-joined, 4x4 images', n: 3, cIn: 32, h: 4, w: 4, cOut: 40, kernel: [1, 1] },
  { name: '1x1 batch-joined, 4x8 images, groups 2', n: 2, cIn: 32, h: 4, w: 8, cOut: 24, kernel: [1, 1], groups: 2 },
  { name: '1x1 batch-joined, 4x4 images threaded', n: 32, cIn: 64, h: 4, w: 4, cOut: 64, kernel: [1, 1] },
  // Winograd F(2x2, 3x3)
  { name: 'winograd pad 1, odd sizes', n: 2, cIn: 16, h: 7, w: 9, cOut: 20, pad: [1, 1, 1, 1] },
  { name: 'winograd asymmetric pad (0, 1, 1, 0)', n: 2, cIn: 16, h: 8, w: 7, cOut: 16, pad: [0, 1, 1, 0] },
  { name: 'winograd no padding, 2x1 output', n: 1, cIn: 16, h: 4, w: 3, cOut: 16, bias: false },
  { name: 'winograd padding 3 (grad input crops)', n: 1, cIn: 16, h: 5, w: 6, cOut: 16, pad: [3, 2, 3, 1] },
  { name: 'winograd groups 2', n: 2, cIn: 32, h: 6, w: 6, cOut: 32, pad: [1, 1, 1, 1], groups: 2 },
  { name: 'winograd 1x1 images', n: 3, cIn: 16, h: 1, w: 1, cOut: 16, pad: [1, 1, 1, 1] },
  { name: 'winograd blocks spanning images', n: 5, cIn: 24, h: 5, w: 5, cOut: 40, pad: [1, 1, 1, 1] },
  { name: 'winograd threaded', n: 2, cIn: 32, h: 12, w: 13, cOut: 32, pad: [1, 1, 1, 1] },
  { name: 'winograd 4x4 images, 48 -> 64 channels threaded', n: 16, cIn: 48, h: 4, w: 4, cOut: 64, pad: [1, 1, 1, 1] },
  {
    name: 'winograd wide maps, padding 3, groups 2',
    n: 1,
    cIn: 32,
    h: 9,
    w: 19,
    cOut: 32,
    pad: [3, 2, 3, 1],
    groups: 2,
  },
];

describe('native conv2d, conv2dGradInput, conv2dGradWeight vs reference loops', { skip }, () => {
  for (const c of CONV_CASES) {
    test(c.name, () => {
      const p = convParams(c);
      const x = values(p.n * p.cIn * p.h * p.w, 3);
      const w = values((p.cOut * p.cIn * p.kh * p.kw) / p.groups, 4);
      const bias = c.bias === false ? null : values(p.cOut, 5);
      const gy = values(p.n * p.cOut * p.outH * p.outW, 6);
      const expected = referenceConv(x, w, bias, gy, p);
      for (const threads of THREADS) {
        backend.setNumThreads(threads);
        const [out, gx, gw] = [gy.length, x.length, w.length].map((n) => new Float32Array(n).fill(NaN));
        backend.conv2d(x, w, bias, out, p);
        backend.conv2dGradInput(gy, w, gx, p);
        backend.conv2dGradWeight(x, gy, gw, p);
        assertClose(out, expected.out, `${threads} threads: out`);
        assertClose(gx, expected.gx, `${threads} threads: gx`);
        assertClose(gw, expected.gw, `${threads} threads: gw`);
      }
    });
  }

  test('threaded results are bitwise reproducible from run to run', () => {
    backend.setNumThreads(2);
    for (const c of CONV_CASES.filter(({ name }) => name.endsWith('threaded'))) {
      const p = convParams(c);
      const x = values(p.n * p.cIn * p.h * p.w, 7);
      const w = values((p.cOut * p.cIn * p.kh * p.kw) / p.groups, 8);
      const gy = values(p.n * p.cOut * p.outH * p.outW, 9);
      const run = () => {
        const [out, gx, gw] = [gy.length, x.length, w.length].map((n) => new Float32Array(n));
        backend.conv2d(x, w, null, out, p);
        backend.conv2dGradInput(gy, w, gx, p);
        backend.conv2dGradWeight(x, gy, gw, p);
        return [out, gx, gw];
      };
      const [first, second] = [run(), run()];
      first.forEach((a, i) => assert.deepEqual(a, second[i], `${c.name}: output ${i}`));
    }
  });

  test('short buffers and inconsistent params throw instead of touching memory', () => {
    const p = convParams({ name: '', n: 2, cIn: 4, h: 5, w: 5, cOut: 4, pad: [1, 1, 1, 1] });
    const [x, w, gy] = [new Float32Array(200), new Float32Array(144), new Float32Array(200)];
    assert.throws(() => backend.conv2d(x.subarray(1), w, null, new Float32Array(200), p), RangeError);
    assert.throws(() => backend.conv2d(x, w.subarray(1), null, new Float32Array(200), p), RangeError);
    assert.throws(() => backend.conv2d(x, w, new Float32Array(3), new Float32Array(200), p), RangeError);
    assert.throws(() => backend.conv2d(x, w, null, new Float32Array(199), p), RangeError);
    assert.throws(() => backend.conv2dGradInput(gy, w, new Float32Array(199), p), RangeError);
    assert.throws(() => backend.conv2dGradWeight(x, gy, new Float32Array(143), p), RangeError);
    assert.throws(() => backend.conv2d(x, w, null, new Float32Array(200), { ...p, groups: 3 }), RangeError);
    assert.throws(() => backend.conv2d(x, w, null, new Float32Array(200), { ...p, strideH: 0 }), RangeError);
    assert.throws(() => backend.conv2d(x, w, null, new Float32Array(200), { ...p, padTop: -1 }), RangeError);
  });
});
