// Elementwise kernels: unary ops, their derivatives, and broadcast binary ops.
import type { BinaryOp, BroadcastLayout, UnaryOp } from '../../backend.js';
import type { Floats } from './floats.js';
import { normalCdf } from './erf.js';
import { forEachRow } from './strided.js';

type UnaryFn = (x: number, p0: number, p1: number) => number;
/** f'(x), given x and y = f(x). */
type UnaryDerivative = (x: number, y: number, p0: number, p1: number) => number;

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

const UNARY: { [Op in UnaryOp]: UnaryFn } = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: (x) => Math.abs(x),
  square: (x) => x * x,
  sigmoid,
  tanh: (x) => Math.tanh(x),
  silu: (x) => x * sigmoid(x),
  gelu: (x) => x * normalCdf(x),
  relu: (x) => (x > 0 ? x : 0),
  leakyRelu: (x, slope) => (x > 0 ? x : slope * x),
  powScalar: (x, exponent) => Math.pow(x, exponent),
  clamp: (x, lo, hi) => Math.min(Math.max(x, lo), hi),
  affine: (x, scale, shift) => x * scale + shift,
};

// Conventions at kinks follow PyTorch: relu'(0) = abs'(0) = 0, leakyRelu'(0) = slope,
// clamp' = 1 on [lo, hi] inclusive, d/dx x^0 = 0.
const UNARY_DERIVATIVE: { [Op in UnaryOp]: UnaryDerivative } = {
  neg: () => -1,
  exp: (_x, y) => y,
  log: (x) => 1 / x,
  sqrt: (_x, y) => 0.5 / y,
  rsqrt: (_x, y) => -0.5 * y * y * y,
  abs: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  square: (x) => 2 * x,
  sigmoid: (_x, y) => y * (1 - y),
  tanh: (_x, y) => 1 - y * y,
  silu: (x) => {
    const s = sigmoid(x);
    return s * (1 + x * (1 - s));
  },
  // d/dx x Phi(x) = Phi(x) + x phi(x)
  gelu: (x) => normalCdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  relu: (x) => (x > 0 ? 1 : 0),
  leakyRelu: (x, _y, slope) => (x > 0 ? 1 : slope),
  powScalar: (x, _y, exponent) => (exponent === 0 ? 0 : exponent * Math.pow(x, exponent - 1)),
  clamp: (x, _y, lo, hi) => (x >= lo && x <= hi ? 1 : 0),
  affine: (_x, _y, scale) => scale,
};

const BINARY: { [Op in BinaryOp]: (a: number, b: number) => number } = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
  eq: (a, b) => (a === b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
};

export function unary(op: UnaryOp, x: Floats, out: Floats, p0: number, p1: number): void {
  const f = UNARY[op];
  for (let i = 0; i < x.length; i++) out[i] = f(x[i], p0, p1);
}

export function unaryGrad(op: UnaryOp, x: Floats, y: Floats, gy: Floats, gx: Floats, p0: number, p1: number): void {
  const derivative = UNARY_DERIVATIVE[op];
  for (let i = 0; i < x.length; i++) gx[i] = gy[i] * derivative(x[i], y[i], p0, p1);
}

export function binary(op: BinaryOp, a: Floats, b: Floats, out: Floats, layout: BroadcastLayout): void {
  const f = BINARY[op];
  const { outShape, aStrides, bStrides } = layout;
  const rank = outShape.length;
  const rowLength = outShape[rank - 1];
  const aStep = aStrides[rank - 1];
  const bStep = bStrides[rank - 1];
  let o = 0; // out is contiguous, so its offset just counts up
  forEachRow(outShape, aStrides, 0, bStrides, 0, (aRow, bRow) => {
    for (let j = 0; j < rowLength; j++) out[o++] = f(a[aRow + j * aStep], b[bRow + j * bStep]);
  });
}

/** out[r, j] = x[r, j] * gelu(x[r, half + j]) over rows of x [rows, 2 * half]. */
export function geglu(x: Floats, out: Floats, rows: number, half: number): void {
  for (let r = 0; r < rows; r++) {
    const row = r * 2 * half;
    for (let j = 0; j < half; j++) out[r * half + j] = x[row + j] * UNARY.gelu(x[row + half + j], 0, 0);
  }
}

/** d/da = gy gelu(gate), d/dgate = gy a gelu'(gate). */
export function gegluGrad(x: Floats, gy: Floats, gx: Floats, rows: number, half: number): void {
  for (let r = 0; r < rows; r++) {
    const row = r * 2 * half;
    for (let j = 0; j < half; j++) {
      const a = x[row + j];
      const gate = x[row + half + j];
      const g = gy[r * half + j];
      gx[row + j] = g * UNARY.gelu(gate, 0, 0);
      gx[row + half + j] = g * a * UNARY_DERIVATIVE.gelu(gate, 0, 0, 0);
    }
  }
}
