// Data movement: reshape, permute, slice, concat, expand, pad, index selection.
// Everything but reshape copies into a new contiguous buffer through the backend's one
// strided-copy kernel; reshape shares the buffer (tensors are never mutated by ops, so
// sharing is safe).
import { needsGrad, record } from '../autograd.js';
import { getBackend } from '../device.js';
import { allocate, allocateZeroed } from '../memory.js';
import { assertValidShape, formatShape, normalizeAxis, shapesEqual, sizeOf, stridesOf, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sumToShape } from './elementwise.js';

/** Reshape; one dimension may be -1 (inferred). Shares the data buffer. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = resolveShape(shape, x.size, x.shape);
  if (shapesEqual(resolved, x.shape)) return x;
  const out = new Tensor(x.data, resolved);
  return record(out, 'reshape', [x], (gy) => [reshape(gy, x.shape)]);
}

function resolveShape(shape: Shape, size: number, from: Shape): number[] {
  const inferred = shape.filter((d) => d === -1).length;
  if (inferred > 1) throw new Error(`reshape: only one dimension may be -1 in ${formatShape(shape)}`);
  const known = sizeOf(shape.filter((d) => d !== -1));
  const out = shape.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  assertValidShape(out, 'reshape');
  if (sizeOf(out) !== size) {
    throw new Error(
      `reshape: cannot reshape a tensor of shape ${formatShape(from)} (${size} elements) to ${formatShape(shape)}`,
    );
  }
  return out;
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.rank) {
    throw new Error(`permute: ${dims.length} dims given for a tensor of shape ${formatShape(x.shape)}`);
  }
  const axes = dims.map((d) => normalizeAxis(d, x.rank, 'permute'));
  if (new Set(axes).size !== axes.length) throw new Error(`permute: repeated axis in [${dims.join(', ')}]`);
  if (axes.every((a, i) => a === i)) return x;
  const shape = axes.map((a) => x.shape[a]);
  const srcStrides = stridesOf(x.shape);
  const out = new Tensor(allocate(x.size), shape);
  getBackend().copyStrided(
    x.data,
    0,
    axes.map((a) => srcStrides[a]),
    out.data,
    0,
    stridesOf(shape),
    shape,
  );
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], (gy) => [permute(gy, inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const dims = Array.from({ length: x.rank }, (_, i) => i);
  const a = normalizeAxis(dim0, x.rank, 'transpose');
  const b = normalizeAxis(dim1, x.rank, 'transpose');
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}

/** Elements start, start + step, ... < end along one axis (negative start/end count from the end). */
export function slice(x: Tensor, axis: number, start: number, end = Infinity, step = 1): Tensor {
  const a = normalizeAxis(axis, x.rank, 'slice');
  const n = x.shape[a];
  if (!Number.isInteger(step) || step < 1) throw new Error(`slice: step must be a positive integer, got ${step}`);
  const clampIndex = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
  const s = clampIndex(start);
  const e = Math.max(s, clampIndex(end));
  const count = Math.ceil((e - s) / step);
  const shape = x.shape.map((d, i) => (i === a ? count : d));
  const strides = stridesOf(x.shape);
  const srcStrides = strides.map((st, i) => (i === a ? st * step : st));
  const out = new Tensor(allocate(sizeOf(shape)), shape);
  getBackend().copyStrided(x.data, s * strides[a], srcStrides, out.data, 0, stridesOf(shape), shape);
  return record(out, 'slice', [x], (gy) => {
    const gx = new Tensor(allocateZeroed(x.size), x.shape);
    getBackend().copyStrided(gy.data, 0, stridesOf(shape), gx.data, s * strides[a], srcStrides, shape);
    return [gx];
  });
}

export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: no tensors given');
  const first = tensors[0];
  const a = normalizeAxis(axis, first.rank, 'concat');
  for (const t of tensors) {
    const compatible = t.rank === first.rank && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!compatible) {
      throw new Error(
        `concat: shapes ${tensors.map((u) => formatShape(u.shape)).join(', ')} differ outside axis ${axis}`,
      );
    }
  }
  const shape = first.shape.map((d, i) => (i === a ? tensors.reduce((s, t) => s + t.shape[a], 0) : d));
  const out = new Tensor(allocate(sizeOf(shape)), shape); // the pieces cover it
  const outStrides = stridesOf(shape);
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    offsets.push(offset);
    getBackend().copyStrided(t.data, 0, stridesOf(t.shape), out.data, offset * outStrides[a], outStrides, t.shape);
    offset += t.shape[a];
  }
  return record(out, 'concat', tensors, (gy) =>
    tensors.map((t, i) => (needsGrad(t) ? slice(gy, a, offsets[i], offsets[i] + t.shape[a]) : null)),
  );
}

export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: no tensors given');
  const a = normalizeAxis(axis, tensors[0].rank + 1, 'stack');
  return concat(
    tensors.map((t) => unsqueeze(t, a)),
    a,
  );
}

/** Splits into pieces of the given sizes (or of equal size `sizes`, the last smaller). */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normalizeAxis(axis, x.rank, 'split');
  const n = x.shape[a];
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes < 1) throw new Error(`split: size must be a positive integer, got ${sizes}`);
    list = [];
    for (let s = 0; s < n; s += sizes) list.push(Math.min(sizes, n - s));
  } else {
    list = [...sizes];
    if (list.reduce((s, v) => s + v, 0) !== n) {
      throw new Error(
        `split: sizes [${list.join(', ')}] do not add up to ${n} (axis ${axis} of ${formatShape(x.shape)})`,
      );
    }
  }
  const pieces: Tensor[] = [];
  let start = 0;
  for (const size of list) {
    pieces.push(slice(x, a, start, start + size));
    start += size;
  }
  return pieces;
}

/** Splits into `chunks` pieces of ceil(n / chunks) (torch.chunk). */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  const a = normalizeAxis(axis, x.rank, 'chunk');
  return split(x, Math.ceil(x.shape[a] / chunks), a);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank + 1, 'unsqueeze');
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normalizeAxis(axis, x.rank, 'squeeze');
  if (x.shape[a] !== 1) return x;
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

/** Broadcasts to a larger shape (NumPy rules), materialising the copy. */
export function expand(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const offset = shape.length - x.rank;
  const own = stridesOf(x.shape);
  const srcStrides = shape.map((d, i) => {
    const j = i - offset;
    if (j < 0) return 0;
    if (x.shape[j] === d) return own[j];
    if (x.shape[j] === 1) return 0;
    throw new Error(`expand: cannot expand shape ${formatShape(x.shape)} to ${formatShape(shape)}`);
  });
  const out = new Tensor(allocate(sizeOf(shape)), shape);
  getBackend().copyStrided(x.data, 0, srcStrides, out.data, 0, stridesOf(shape), shape);
  return record(out, 'expand', [x], (gy) => [sumToShape(gy, x.shape)]);
}

/**
 * Constant padding of the last axes, in PyTorch's order: [left, right] pads the last axis,
 * [left, right, top, bottom] the last two, and so on. Pads must be non-negative.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.rank) {
    throw new Error(`pad: ${pads.length} pad values do not fit a tensor of shape ${formatShape(x.shape)}`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0))
    throw new Error(`pad: pads must be non-negative integers, got [${pads.join(', ')}]`);
  const before = new Array<number>(x.rank).fill(0);
  const shape = [...x.shape];
  for (let i = 0; i < pads.length / 2; i++) {
    const axis = x.rank - 1 - i;
    before[axis] = pads[2 * i];
    shape[axis] += pads[2 * i] + pads[2 * i + 1];
  }
  const outStrides = stridesOf(shape);
  const offset = before.reduce((s, b, i) => s + b * outStrides[i], 0);
  const out = new Tensor(new Float32Array(sizeOf(shape)).fill(value), shape);
  getBackend().copyStrided(x.data, 0, stridesOf(x.shape), out.data, offset, outStrides, x.shape);
  return record(out, 'pad', [x], (gy) => {
    const gx = new Tensor(new Float32Array(x.size), x.shape);
    getBackend().copyStrided(gy.data, offset, outStrides, gx.data, 0, stridesOf(x.shape), x.shape);
    return [gx];
  });
}

/** Integer indices from a number array or an index-valued tensor, checked against a bound. */
export function toIndices(indices: Tensor | readonly number[] | Int32Array, bound: number, op: string): Int32Array {
  const values = indices instanceof Tensor ? indices.data : indices;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= bound) {
      throw new Error(`${op}: index ${v} at position ${i} is out of range [0, ${bound})`);
    }
    out[i] = v;
  }
  return out;
}

/** Picks entries along an axis: out.shape[axis] = indices.length (torch.index_select). */
export function indexSelect(x: Tensor, axis: number, indices: Tensor | readonly number[] | Int32Array): Tensor {
  const a = normalizeAxis(axis, x.rank, 'indexSelect');
  const idx = toIndices(indices, x.shape[a], 'indexSelect');
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const n = x.shape[a];
  const shape = x.shape.map((d, i) => (i === a ? idx.length : d));
  const out = new Tensor(new Float32Array(sizeOf(shape)), shape);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const src = (o * n + idx[j]) * inner;
      out.data.set(x.data.subarray(src, src + inner), (o * idx.length + j) * inner);
    }
  }
  return record(out, 'indexSelect', [x], (gy) => {
    // Scatter-add: an index picked twice receives both gradients.
    const gx = new Tensor(new Float32Array(x.size), x.shape);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < idx.length; j++) {
        const dst = (o * n + idx[j]) * inner;
        const src = (o * idx.length + j) * inner;
        for (let k = 0; k < inner; k++) gx.data[dst + k] += gy.data[src + k];
      }
    }
    return [gx];
  });
}
