// The Tensor: a float32 buffer with a shape, plus autograd bookkeeping.
//
// Memory ownership, in one place:
// - A tensor's `data` is always contiguous, row-major (NCHW for images), and owned by the
//   JavaScript garbage collector; kernels write into buffers the ops allocate.
// - Ops never mutate their inputs. Every op returns a new buffer, except reshape-like ops,
//   which share the input's buffer (safe, since nothing mutates it).
// - The only in-place writes are explicit: optimizers updating parameters and loaders
//   filling them (`copyFrom`), both outside autograd.
// - Saved activations live only in grad-node closures, which backward() drops as it goes.
// - Gradients that die inside backward() have their buffers recycled (memory.ts).
import * as autograd from './autograd.js';
import type { GradNode } from './autograd.js';
import { noteWrapped } from './memory.js';
import { Generator, defaultGenerator } from './random.js';
import { assertValidShape, formatShape, shapesEqual, sizeOf, type Shape } from './shape.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as so from './ops/shape-ops.js';
import { matmul } from './ops/linalg.js';

/** Nested arrays of numbers, as accepted by Tensor.from. */
export type NestedArray = number | readonly NestedArray[];

export class Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded for autograd. */
  gradFn: GradNode | null = null;

  constructor(data: Float32Array, shape: Shape) {
    assertValidShape(shape, 'Tensor');
    if (data.length !== sizeOf(shape)) {
      throw new Error(
        `Tensor: ${data.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} elements)`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    noteWrapped(data);
  }

  // ---- creation ----

  static zeros(shape: Shape): Tensor {
    return new Tensor(new Float32Array(sizeOf(shape)), shape);
  }

  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  static full(shape: Shape, value: number): Tensor {
    return new Tensor(new Float32Array(sizeOf(shape)).fill(value), shape);
  }

  static scalar(value: number): Tensor {
    return new Tensor(Float32Array.of(value), []);
  }

  /** start, start + step, ... < end. */
  static arange(start: number, end?: number, step = 1): Tensor {
    const [from, to] = end === undefined ? [0, start] : [start, end];
    if (step === 0) throw new Error('arange: step must not be 0');
    const n = Math.max(0, Math.ceil((to - from) / step));
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = from + i * step;
    return new Tensor(data, [n]);
  }

  /** From nested arrays (shape inferred), or a flat array / typed array with a shape. */
  static from(values: NestedArray | ArrayLike<number>, shape?: Shape): Tensor {
    if (shape !== undefined) {
      const flat = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
      return new Tensor(flat, shape);
    }
    const inferred: number[] = [];
    let probe: NestedArray = values as NestedArray;
    while (Array.isArray(probe)) {
      inferred.push(probe.length);
      probe = (probe as readonly NestedArray[])[0] ?? 0;
    }
    const flat = new Float32Array(sizeOf(inferred));
    let i = 0;
    const visit = (v: NestedArray, depth: number): void => {
      if (depth === inferred.length) {
        if (typeof v !== 'number') throw new Error('Tensor.from: ragged nested array');
        flat[i++] = v;
        return;
      }
      if (!Array.isArray(v) || v.length !== inferred[depth]) throw new Error('Tensor.from: ragged nested array');
      for (const item of v as readonly NestedArray[]) visit(item, depth + 1);
    };
    visit(values as NestedArray, 0);
    return new Tensor(flat, inferred);
  }

  static randn(shape: Shape, generator: Generator = defaultGenerator): Tensor {
    return new Tensor(generator.fillNormal(new Float32Array(sizeOf(shape))), shape);
  }

  /** Uniform in [low, high). */
  static rand(shape: Shape, generator: Generator = defaultGenerator, low = 0, high = 1): Tensor {
    return new Tensor(generator.fillUniform(new Float32Array(sizeOf(shape)), low, high), shape);
  }

  zerosLike(): Tensor {
    return Tensor.zeros(this.shape);
  }

  onesLike(): Tensor {
    return Tensor.ones(this.shape);
  }

  // ---- basics ----

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new Error(`item: tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not 1`);
    return this.data[0];
  }

  /** Nested arrays of the values. */
  toArray(): NestedArray {
    const build = (offset: number, depth: number): NestedArray => {
      if (depth === this.rank) return this.data[offset];
      const stride = sizeOf(this.shape.slice(depth + 1));
      return Array.from({ length: this.shape[depth] }, (_, i) => build(offset + i * stride, depth + 1));
    };
    return build(0, 0);
  }

  /** A copy with its own buffer, outside the graph. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** The same values (shared buffer) cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /** Marks a leaf as requiring gradients; returns this. */
  requireGrad(requires = true): this {
    if (this.gradFn !== null) throw new Error('requireGrad: only leaf tensors (not results of ops) can be marked');
    this.requiresGrad = requires;
    return this;
  }

  /** Overwrites this tensor's values in place (outside autograd), e.g. to load weights. */
  copyFrom(source: Tensor | Float32Array): this {
    const values = source instanceof Tensor ? source.data : source;
    if (values.length !== this.size || (source instanceof Tensor && !shapesEqual(source.shape, this.shape))) {
      const got = source instanceof Tensor ? formatShape(source.shape) : `${values.length} values`;
      throw new Error(`copyFrom: ${got} does not match shape ${formatShape(this.shape)}`);
    }
    this.data.set(values);
    return this;
  }

  toString(): string {
    const preview = Array.from(this.data.subarray(0, 8), (v) => v.toPrecision(4)).join(', ');
    return `Tensor(${formatShape(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}) [${preview}${this.size > 8 ? ', ...' : ''}]`;
  }

  // ---- autograd ----

  backward(gradient?: Tensor, options?: autograd.BackwardReleaseOptions): void {
    autograd.backward(this, gradient, options);
  }

  // ---- elementwise ----

  add(other: Tensor | number): Tensor {
    return ew.add(this, other);
  }
  sub(other: Tensor | number): Tensor {
    return ew.sub(this, other);
  }
  mul(other: Tensor | number): Tensor {
    return ew.mul(this, other);
  }
  div(other: Tensor | number): Tensor {
    return ew.div(this, other);
  }
  pow(exponent: Tensor | number): Tensor {
    return ew.pow(this, exponent);
  }
  neg(): Tensor {
    return ew.neg(this);
  }
  exp(): Tensor {
    return ew.exp(this);
  }
  log(): Tensor {
    return ew.log(this);
  }
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  rsqrt(): Tensor {
    return ew.rsqrt(this);
  }
  abs(): Tensor {
    return ew.abs(this);
  }
  square(): Tensor {
    return ew.square(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return ew.clamp(this, min, max);
  }
  sigmoid(): Tensor {
    return ew.sigmoid(this);
  }
  tanh(): Tensor {
    return ew.tanh(this);
  }
  silu(): Tensor {
    return ew.silu(this);
  }
  gelu(): Tensor {
    return ew.gelu(this);
  }
  relu(): Tensor {
    return ew.relu(this);
  }

  // ---- reductions ----

  sum(axes?: red.Axes, keepdim = false): Tensor {
    return red.sum(this, axes, keepdim);
  }
  mean(axes?: red.Axes, keepdim = false): Tensor {
    return red.mean(this, axes, keepdim);
  }
  var(axes?: red.Axes, keepdim = false, correction = 1): Tensor {
    return red.variance(this, axes, keepdim, correction);
  }
  max(axes?: red.Axes, keepdim = false): Tensor {
    return red.max(this, axes, keepdim);
  }
  min(axes?: red.Axes, keepdim = false): Tensor {
    return red.min(this, axes, keepdim);
  }
  softmax(axis = -1): Tensor {
    return red.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return red.logSoftmax(this, axis);
  }

  // ---- shape ----

  matmul(other: Tensor): Tensor {
    return matmul(this, other);
  }
  reshape(shape: Shape): Tensor {
    return so.reshape(this, shape);
  }
  /** Collapses axes start..end (inclusive) into one. */
  flatten(start = 0, end = -1): Tensor {
    const s = start < 0 ? start + this.rank : start;
    const e = end < 0 ? end + this.rank : end;
    return so.reshape(this, [
      ...this.shape.slice(0, s),
      sizeOf(this.shape.slice(s, e + 1)),
      ...this.shape.slice(e + 1),
    ]);
  }
  permute(dims: readonly number[]): Tensor {
    return so.permute(this, dims);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return so.transpose(this, dim0, dim1);
  }
  slice(axis: number, start: number, end?: number, step?: number): Tensor {
    return so.slice(this, axis, start, end, step);
  }
  expand(shape: Shape): Tensor {
    return so.expand(this, shape);
  }
  unsqueeze(axis: number): Tensor {
    return so.unsqueeze(this, axis);
  }
  squeeze(axis?: number): Tensor {
    return so.squeeze(this, axis);
  }
  chunk(chunks: number, axis = 0): Tensor[] {
    return so.chunk(this, chunks, axis);
  }
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    return so.split(this, sizes, axis);
  }
}
