// Reductions over chosen axes, and softmax. Axes are reduced through the backend's
// [outer, size, inner] kernel; runs of adjacent axes collapse into one kernel call.
import type { ReduceOp } from '../backend.js';
import { record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate } from '../memory.js';
import { normalizeAxes, normalizeAxis, sizeOf, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { div, eq, mul, sub } from './elementwise.js';
import { expand } from './shape-ops.js';

export type Axes = number | readonly number[];

function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  if (keepdim) return shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return shape.filter((_, i) => !axes.includes(i));
}

/** Raw reduction (no autograd) of `data` of `shape` over sorted axes; returns keepdim-shaped data. */
function reduceRaw(op: ReduceOp, data: Float32Array, shape: Shape, axes: readonly number[]): Float32Array {
  let current = data;
  const dims = [...shape];
  // Reduce from the last axis backwards so earlier axis indices stay valid; merge adjacent axes.
  let i = axes.length - 1;
  while (i >= 0) {
    const last = axes[i];
    let first = last;
    while (i > 0 && axes[i - 1] === first - 1) first = axes[--i];
    i--;
    const outer = sizeOf(dims.slice(0, first));
    const size = sizeOf(dims.slice(first, last + 1));
    const inner = sizeOf(dims.slice(last + 1));
    const out = allocate(outer * inner);
    getBackend().reduce(op, current, out, outer, size, inner);
    for (let d = first; d <= last; d++) dims[d] = 1;
    current = out;
  }
  return current === data ? data.slice() : current;
}

export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = normalizeAxes(axes, x.rank, 'sum');
  const kept = reducedShape(x.shape, ax, true);
  const out = new Tensor(reduceRaw('sum', x.data, x.shape, ax), reducedShape(x.shape, ax, keepdim));
  return record(out, 'sum', [x], (gy) => [expand(gy.reshape(kept), x.shape)]);
}

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const ax = normalizeAxes(axes, x.rank, 'mean');
  const count = sizeOf(ax.map((a) => x.shape[a]));
  return mul(sum(x, ax, keepdim), 1 / count);
}

/** Variance with Bessel's correction by default (correction = 1), as torch.var. */
export function variance(x: Tensor, axes?: Axes, keepdim = false, correction = 1): Tensor {
  const ax = normalizeAxes(axes, x.rank, 'var');
  const count = sizeOf(ax.map((a) => x.shape[a]));
  const centered = sub(x, mean(x, ax, true));
  return mul(sum(mul(centered, centered), ax, keepdim), 1 / Math.max(0, count - correction));
}

/** Max over axes (torch.amax): ties share the gradient evenly. */
export function max(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return extremum('max', x, axes, keepdim);
}

export function min(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  return extremum('min', x, axes, keepdim);
}

function extremum(op: 'max' | 'min', x: Tensor, axes: Axes | undefined, keepdim: boolean): Tensor {
  const ax = normalizeAxes(axes, x.rank, op);
  if (x.size === 0) throw new Error(`${op}: cannot reduce an empty tensor`);
  const kept = reducedShape(x.shape, ax, true);
  const data = reduceRaw(op, x.data, x.shape, ax);
  const out = new Tensor(data, reducedShape(x.shape, ax, keepdim));
  return record(out, op, [x], (gy) => {
    const mask = eq(x.detach(), new Tensor(data, kept));
    const count = new Tensor(reduceRaw('sum', mask.data, x.shape, ax), kept);
    return [mul(expand(gy.reshape(kept), x.shape), div(mask, count))];
  });
}

function softmaxOp(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  const a = normalizeAxis(axis, x.rank, op);
  const outer = sizeOf(x.shape.slice(0, a));
  const size = x.shape[a];
  const inner = sizeOf(x.shape.slice(a + 1));
  const out = new Tensor(allocate(x.size), x.shape);
  getBackend().softmax(x.data, out.data, outer, size, inner, log);
  return record(out, op, [x], (gy) => {
    const gx = new Tensor(allocate(x.size), x.shape);
    getBackend().softmaxGrad(out.data, gy.data, gx.data, outer, size, inner, log);
    return [gx];
  });
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp(x, axis, false);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp(x, axis, true);
}
