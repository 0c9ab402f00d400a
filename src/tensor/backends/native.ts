// The native backend: a thin adapter from the Backend interface to the C++ addon built
// from native/ (build/Release/ldm_native.node). Op names become integer codes (their index
// in UNARY_OPS / BINARY_OPS) and parameter records become Float64Arrays, so the addon
// sees only typed arrays and numbers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  BINARY_OPS,
  UNARY_OPS,
  type AdamStepParams,
  type AttentionParams,
  type Backend,
  type BinaryOp,
  type BroadcastLayout,
  type Conv2dParams,
  type MatmulParams,
  type ReduceOp,
  type UnaryOp,
} from '../backend.js';

type F32 = Float32Array;
type F64 = Float64Array;

/** The functions the addon exports (see native/binding.cc and the kernel files). */
interface NativeAddon {
  setNumThreads(n: number): void;
  getNumThreads(): number;
  unary(op: number, x: F32, out: F32, p0: number, p1: number): void;
  unaryGrad(op: number, x: F32, y: F32, gy: F32, gx: F32, p0: number, p1: number): void;
  binary(op: number, a: F32, b: F32, out: F32, outShape: F64, aStrides: F64, bStrides: F64): void;
  reduce(op: number, x: F32, out: F32, outer: number, size: number, inner: number): void;
  softmax(x: F32, out: F32, outer: number, size: number, inner: number, log: boolean): void;
  softmaxGrad(y: F32, gy: F32, gx: F32, outer: number, size: number, inner: number, log: boolean): void;
  geglu(x: F32, out: F32, rows: number, half: number): void;
  gegluGrad(x: F32, gy: F32, gx: F32, rows: number, half: number): void;
  adamStep(param: F32, grad: F32, expAvg: F32, expAvgSq: F32, p: F64): void;
  matmul(
    a: F32,
    b: F32,
    out: F32,
    batch: number,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    aBatchStride: number,
    bBatchStride: number,
    bias: F32 | null,
  ): void;
  conv2d(x: F32, w: F32, bias: F32 | null, out: F32, p: F64): void;
  conv2dGradInput(gy: F32, w: F32, gx: F32, p: F64): void;
  conv2dGradWeight(x: F32, gy: F32, gw: F32, p: F64): void;
  groupNorm(
    x: F32,
    gamma: F32 | null,
    beta: F32 | null,
    out: F32,
    mean: F32,
    rstd: F32,
    n: number,
    c: number,
    hw: number,
    groups: number,
    eps: number,
  ): void;
  groupNormGrad(
    x: F32,
    gy: F32,
    gamma: F32 | null,
    mean: F32,
    rstd: F32,
    gx: F32,
    gGamma: F32 | null,
    gBeta: F32 | null,
    n: number,
    c: number,
    hw: number,
    groups: number,
  ): void;
  layerNorm(
    x: F32,
    gamma: F32 | null,
    beta: F32 | null,
    out: F32,
    mean: F32,
    rstd: F32,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layerNormGrad(
    x: F32,
    gy: F32,
    gamma: F32 | null,
    mean: F32,
    rstd: F32,
    gx: F32,
    gGamma: F32 | null,
    gBeta: F32 | null,
    rows: number,
    cols: number,
  ): void;
  attention(q: F32, k: F32, v: F32, out: F32, lse: F32, p: F64): void;
  attentionGrad(q: F32, k: F32, v: F32, out: F32, lse: F32, gOut: F32, gq: F32, gk: F32, gv: F32, p: F64): void;
  upsampleNearest(x: F32, out: F32, planes: number, h: number, w: number, sh: number, sw: number): void;
  upsampleNearestGrad(gy: F32, gx: F32, planes: number, h: number, w: number, sh: number, sw: number): void;
  avgPool2d(x: F32, out: F32, planes: number, h: number, w: number, k: number, s: number): void;
  avgPool2dGrad(gy: F32, gx: F32, planes: number, h: number, w: number, k: number, s: number): void;
  copyStrided(
    src: F32,
    srcOffset: number,
    srcStrides: F64,
    dst: F32,
    dstOffset: number,
    dstStrides: F64,
    shape: F64,
  ): void;
}

const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

/** Conv2dParams packed in this field order (native/conv2d.cc reads the same order). */
export function packConv2dParams(p: Conv2dParams): F64 {
  return Float64Array.of(
    p.n,
    p.cIn,
    p.h,
    p.w,
    p.cOut,
    p.kh,
    p.kw,
    p.strideH,
    p.strideW,
    p.padTop,
    p.padLeft,
    p.dilationH,
    p.dilationW,
    p.groups,
    p.outH,
    p.outW,
  );
}

/** AttentionParams packed in this field order (native/attention.cc reads the same order). */
export function packAttentionParams(p: AttentionParams): F64 {
  return Float64Array.of(p.batch, p.heads, p.tq, p.tk, p.d, p.dv, p.scale);
}

/** AdamStepParams written into `into` in this field order (native/optim.cc reads the same order). */
function packAdamStepParams(p: AdamStepParams, into: F64): F64 {
  into[0] = p.beta1;
  into[1] = p.beta2;
  into[2] = p.eps;
  into[3] = p.keep;
  into[4] = p.stepSize;
  into[5] = p.biasCorrection2Sqrt;
  return into;
}

function unaryCode(op: UnaryOp): number {
  return UNARY_OPS.indexOf(op);
}

function binaryCode(op: BinaryOp): number {
  return BINARY_OPS.indexOf(op);
}

/** Path of the built addon, or null when it has not been built. */
export function nativeAddonPath(): string | null {
  // This file is dist/src/tensor/backends/native.js once compiled; the addon is under build/.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', 'Release', 'ldm_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

/** Loads the addon; throws an error saying how to build it when it is missing. */
export function createNativeBackend(): Backend {
  const path = nativeAddonPath();
  if (path === null) {
    throw new Error(
      'native backend: build/Release/ldm_native.node not found; run `npm install` (or `npm run install`) to build it',
    );
  }
  // OpenMP threads that finish a kernel early spin while they wait by default; when other processes
  // share the cores, the spinning steals time from the threads still working and small kernels
  // ran ~5x slower in our measurements. Sleeping waiters avoid that. Read once, when libgomp loads
  // with the addon; a value the user set wins.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const addon = createRequire(import.meta.url)(path) as NativeAddon;
  // Reused for every adamStep call: the optimizer's steady state allocates nothing (numbers
  // passed one by one would be boxed on every call).
  const adamScratch = new Float64Array(6);

  return {
    name: 'native',
    unary: (op, x, out, p0, p1) => addon.unary(unaryCode(op), x, out, p0, p1),
    unaryGrad: (op, x, y, gy, gx, p0, p1) => addon.unaryGrad(unaryCode(op), x, y, gy, gx, p0, p1),
    binary: (op, a, b, out, layout: BroadcastLayout) =>
      addon.binary(
        binaryCode(op),
        a,
        b,
        out,
        Float64Array.from(layout.outShape),
        Float64Array.from(layout.aStrides),
        Float64Array.from(layout.bStrides),
      ),
    reduce: (op, x, out, outer, size, inner) => addon.reduce(REDUCE_CODES[op], x, out, outer, size, inner),
    softmax: (x, out, outer, size, inner, log) => addon.softmax(x, out, outer, size, inner, log),
    softmaxGrad: (y, gy, gx, outer, size, inner, log) => addon.softmaxGrad(y, gy, gx, outer, size, inner, log),
    geglu: (x, out, rows, half) => addon.geglu(x, out, rows, half),
    gegluGrad: (x, gy, gx, rows, half) => addon.gegluGrad(x, gy, gx, rows, half),
    matmul: (a, b, out, p: MatmulParams, bias) =>
      addon.matmul(a, b, out, p.batch, p.m, p.n, p.k, p.transA, p.transB, p.aBatchStride, p.bBatchStride, bias),
    conv2d: (x, w, bias, out, p) => addon.conv2d(x, w, bias, out, packConv2dParams(p)),
    conv2dGradInput: (gy, w, gx, p) => addon.conv2dGradInput(gy, w, gx, packConv2dParams(p)),
    conv2dGradWeight: (x, gy, gw, p) => addon.conv2dGradWeight(x, gy, gw, packConv2dParams(p)),
    groupNorm: (x, gamma, beta, out, mean, rstd, n, c, hw, groups, eps) =>
      addon.groupNorm(x, gamma, beta, out, mean, rstd, n, c, hw, groups, eps),
    groupNormGrad: (x, gy, gamma, mean, rstd, gx, gGamma, gBeta, n, c, hw, groups) =>
      addon.groupNormGrad(x, gy, gamma, mean, rstd, gx, gGamma, gBeta, n, c, hw, groups),
    layerNorm: (x, gamma, beta, out, mean, rstd, rows, cols, eps) =>
      addon.layerNorm(x, gamma, beta, out, mean, rstd, rows, cols, eps),
    layerNormGrad: (x, gy, gamma, mean, rstd, gx, gGamma, gBeta, rows, cols) =>
      addon.layerNormGrad(x, gy, gamma, mean, rstd, gx, gGamma, gBeta, rows, cols),
    attention: (q, k, v, out, lse, p) => addon.attention(q, k, v, out, lse, packAttentionParams(p)),
    attentionGrad: (q, k, v, out, lse, gOut, gq, gk, gv, p) =>
      addon.attentionGrad(q, k, v, out, lse, gOut, gq, gk, gv, packAttentionParams(p)),
    upsampleNearest: (x, out, planes, h, w, sh, sw) => addon.upsampleNearest(x, out, planes, h, w, sh, sw),
    upsampleNearestGrad: (gy, gx, planes, h, w, sh, sw) => addon.upsampleNearestGrad(gy, gx, planes, h, w, sh, sw),
    avgPool2d: (x, out, planes, h, w, k, s) => addon.avgPool2d(x, out, planes, h, w, k, s),
    avgPool2dGrad: (gy, gx, planes, h, w, k, s) => addon.avgPool2dGrad(gy, gx, planes, h, w, k, s),
    copyStrided: (src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape) =>
      addon.copyStrided(
        src,
        srcOffset,
        Float64Array.from(srcStrides),
        dst,
        dstOffset,
        Float64Array.from(dstStrides),
        Float64Array.from(shape),
      ),
    adamStep: (param, grad, expAvg, expAvgSq, p) =>
      addon.adamStep(param, grad, expAvg, expAvgSq, packAdamStepParams(p, adamScratch)),
    setNumThreads: (n) => addon.setNumThreads(n),
    getNumThreads: () => addon.getNumThreads(),
  };
}
