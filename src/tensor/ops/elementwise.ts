// Elementwise ops: unary maps, broadcasting binary ops, comparisons and `where`.
import type { BinaryOp, UnaryOp } from '../backend.js';
import { needsGrad, record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate } from '../memory.js';
import { broadcastLayout, broadcastShapes, formatShape, shapesEqual, sizeOf, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expand } from './shape-ops.js';
import { sum } from './reduce.js';

export type Scalar = number;

/** y = f(x) for one UnaryOp, with its gradient rule. */
export function unary(op: UnaryOp, x: Tensor, p0 = 0, p1 = 0): Tensor {
  const out = new Tensor(allocate(x.size), x.shape);
  getBackend().unary(op, x.data, out.data, p0, p1);
  return record(out, op, [x], (gy) => {
    const gx = new Tensor(allocate(x.size), x.shape);
    getBackend().unaryGrad(op, x.data, out.data, gy.data, gx.data, p0, p1);
    return [gx];
  });
}

/** Reduces a broadcast gradient back to the shape of the operand it flowed from. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return sum(g, axes, false).reshape(shape);
}

function binaryForward(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const layout = broadcastLayout(a.shape, b.shape, op);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = new Tensor(allocate(sizeOf(shape)), shape);
  getBackend().binary(op, a.data, b.data, out.data, layout);
  return out;
}

function asTensor(x: Tensor | Scalar): Tensor {
  return typeof x === 'number' ? Tensor.scalar(x) : x;
}

export function add(a: Tensor, b: Tensor | Scalar): Tensor {
  if (typeof b === 'number') return unary('affine', a, 1, b);
  const out = binaryForward('add', a, b);
  return record(out, 'add', [a, b], (gy) => [sumToShape(gy, a.shape), sumToShape(gy, b.shape)]);
}

export function sub(a: Tensor, b: Tensor | Scalar): Tensor {
  if (typeof b === 'number') return unary('affine', a, 1, -b);
  const out = binaryForward('sub', a, b);
  return record(out, 'sub', [a, b], (gy) => [
    sumToShape(gy, a.shape),
    needsGrad(b) ? sumToShape(neg(gy), b.shape) : null,
  ]);
}

export function mul(a: Tensor, b: Tensor | Scalar): Tensor {
  if (typeof b === 'number') return unary('affine', a, b, 0);
  const out = binaryForward('mul', a, b);
  return record(out, 'mul', [a, b], (gy) => [
    needsGrad(a) ? sumToShape(mul(gy, b), a.shape) : null,
    needsGrad(b) ? sumToShape(mul(gy, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor | Scalar): Tensor {
  if (typeof b === 'number') return unary('affine', a, 1 / b, 0);
  const out = binaryForward('div', a, b);
  // d(a/b)/db = -a / b^2 = -out / b
  return record(out, 'div', [a, b], (gy) => [
    needsGrad(a) ? sumToShape(div(gy, b), a.shape) : null,
    needsGrad(b) ? sumToShape(neg(div(mul(gy, out), b)), b.shape) : null,
  ]);
}

export function pow(a: Tensor, b: Tensor | Scalar): Tensor {
  if (typeof b === 'number') return unary('powScalar', a, b);
  const out = binaryForward('pow', a, b);
  return record(out, 'pow', [a, b], (gy) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needsGrad(a)) ga = sumToShape(mul(gy, mul(b, pow(a, sub(b, 1)))), a.shape);
    if (needsGrad(b)) {
      // d(a^b)/db = a^b log a; taken as 0 where a == 0 (PyTorch's convention).
      const logA = where(binaryForward('eq', a, Tensor.scalar(0)), Tensor.scalar(0), unary('log', a));
      gb = sumToShape(mul(gy, mul(out, logA)), b.shape);
    }
    return [ga, gb];
  });
}

/** Elementwise maximum; where a == b the gradient is split evenly, as in PyTorch. */
export function maximum(a: Tensor, b: Tensor | Scalar): Tensor {
  return extremum('maximum', a, asTensor(b));
}

export function minimum(a: Tensor, b: Tensor | Scalar): Tensor {
  return extremum('minimum', a, asTensor(b));
}

function extremum(op: 'maximum' | 'minimum', a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(op, a, b);
  return record(out, op, [a, b], (gy) => {
    const aWins = binaryForward(op === 'maximum' ? 'gt' : 'lt', a, b);
    const tie = binaryForward('eq', a, b);
    const aShare = add(aWins, mul(tie, 0.5)); // 1, 0.5 or 0
    const bShare = unary('affine', aShare, -1, 1); // 1 - aShare
    return [sumToShape(mul(gy, aShare), a.shape), sumToShape(mul(gy, bShare), b.shape)];
  });
}

/** 1 where a == b, else 0 (no gradient). */
export function eq(a: Tensor, b: Tensor | Scalar): Tensor {
  return binaryForward('eq', a, asTensor(b));
}

export function gt(a: Tensor, b: Tensor | Scalar): Tensor {
  return binaryForward('gt', a, asTensor(b));
}

export function lt(a: Tensor, b: Tensor | Scalar): Tensor {
  return binaryForward('lt', a, asTensor(b));
}

export function neg(x: Tensor): Tensor {
  return unary('neg', x);
}

/** Clamps to [min, max]; either bound may be omitted. */
export function clamp(x: Tensor, min = -Infinity, max = Infinity): Tensor {
  if (min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
  return unary('clamp', x, min, max);
}

export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return unary('leakyRelu', x, negativeSlope);
}

/** cond ? a : b elementwise, broadcasting all three; cond is nonzero for true. */
export function where(cond: Tensor, a: Tensor | Scalar, b: Tensor | Scalar): Tensor {
  const ta = asTensor(a);
  const tb = asTensor(b);
  const shape = broadcastShapes(broadcastShapes(cond.shape, ta.shape, 'where'), tb.shape, 'where');
  const c = expand(cond, shape).data;
  const av = expand(ta.detach(), shape).data;
  const bv = expand(tb.detach(), shape).data;
  const out = new Tensor(new Float32Array(sizeOf(shape)), shape);
  for (let i = 0; i < out.size; i++) out.data[i] = c[i] !== 0 ? av[i] : bv[i];
  return record(out, 'where', [ta, tb], (gy) => {
    const mask = new Tensor(
      c.map((v) => (v !== 0 ? 1 : 0)),
      shape,
    );
    const inverse = new Tensor(
      c.map((v) => (v !== 0 ? 0 : 1)),
      shape,
    );
    return [
      needsGrad(ta) ? sumToShape(mul(gy, mask), ta.shape) : null,
      needsGrad(tb) ? sumToShape(mul(gy, inverse), tb.shape) : null,
    ];
  });
}

/** Throws if x holds NaN or Inf; `what` names the tensor in the message. */
export function assertFinite(x: Tensor, what: string): void {
  for (let i = 0; i < x.size; i++) {
    if (!Number.isFinite(x.data[i])) {
      throw new Error(
        `${what}: non-finite value ${x.data[i]} at flat index ${i} of a tensor of shape ${formatShape(x.shape)}`,
      );
    }
  }
}

// Named forms of the unary maps, for the public functional API.
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** GELU with the exact erf form (not the tanh approximation). */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);

/**
 * GEGLU's gate in one op: x [..., 2n] split into a and gate along the last axis, a * gelu(gate)
 * with the exact GELU ([..., n]); the same as `a.mul(gelu(gate))` after `x.chunk(2, -1)`,
 * without the copies of the split.
 */
export function geglu(x: Tensor): Tensor {
  const width = x.rank === 0 ? 0 : x.shape[x.rank - 1];
  if (x.rank === 0 || width % 2 !== 0)
    throw new Error(`geglu: last axis must have even size, got ${formatShape(x.shape)}`);
  const half = width / 2;
  const rows = x.size / Math.max(width, 1);
  const shape = [...x.shape.slice(0, -1), half];
  const out = new Tensor(allocate(rows * half), shape);
  getBackend().geglu(x.data, out.data, rows, half);
  return record(out, 'geglu', [x], (gy) => {
    const gx = new Tensor(allocate(x.size), x.shape);
    getBackend().gegluGrad(x.data, gy.data, gx.data, rows, half);
    return [gx];
  });
}
