// The op cases of test/fixtures/ops.safetensors (written by scripts/make_fixtures.py) and how to
// run each one through the functional API. Shared by the torch-parity and gradcheck tests.
import { fileURLToPath } from 'node:url';

import { SafetensorsFile, type TensorRecord } from '../../src/io/safetensors.js';
import type { UnaryOp } from '../../src/tensor/backend.js';
import * as F from '../../src/tensor/functional.js';
import { Tensor } from '../../src/tensor/tensor.js';

/**
 * Non-tensor arguments as the generator writes them (JSON). Each op reads only the fields its
 * cases carry; the types say what those fields hold when present.
 */
interface Args {
  op: UnaryOp;
  p0: number;
  p1?: number;
  scalar?: number;
  slope?: number;
  min?: number;
  max?: number;
  axes: number | number[] | null;
  keepdim?: boolean;
  correction?: number;
  axis: number;
  shape: number[];
  dims: number[];
  dim0: number;
  dim1: number;
  start: number;
  end?: number | null;
  step?: number;
  sizes: number | number[];
  chunks: number;
  pads: number[];
  value?: number;
  stride?: number | [number, number];
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
  groups: number;
  scale: number | [number, number];
  kernel: number;
  eps: number;
  normalizedShape: number[];
  training: boolean;
  momentum: number;
  heads: number;
  p: number;
  reduction: F.Reduction;
}

/** Tensors of one case by role: its inputs and constants. */
export type Roles = Record<string, Tensor>;

type OpRunner = (t: Roles, a: Args, extras: Roles) => Tensor | Tensor[];

const axesOf = (a: Args): number | number[] | undefined => a.axes ?? undefined;

/** One runner per functional-API op name used in the fixtures. */
const OPS: Record<string, OpRunner> = {
  unary: (t, a) => F.unary(a.op, t.x, a.p0, a.p1),
  neg: (t) => F.neg(t.x),
  exp: (t) => F.exp(t.x),
  log: (t) => F.log(t.x),
  sqrt: (t) => F.sqrt(t.x),
  rsqrt: (t) => F.rsqrt(t.x),
  abs: (t) => F.abs(t.x),
  square: (t) => F.square(t.x),
  sigmoid: (t) => F.sigmoid(t.x),
  tanh: (t) => F.tanh(t.x),
  silu: (t) => F.silu(t.x),
  gelu: (t) => F.gelu(t.x),
  relu: (t) => F.relu(t.x),
  leakyRelu: (t, a) => F.leakyRelu(t.x, a.slope),
  clamp: (t, a) => F.clamp(t.x, a.min, a.max),
  add: (t, a) => F.add(t.a, a.scalar ?? t.b),
  sub: (t, a) => F.sub(t.a, a.scalar ?? t.b),
  mul: (t, a) => F.mul(t.a, a.scalar ?? t.b),
  div: (t, a) => F.div(t.a, a.scalar ?? t.b),
  pow: (t, a) => F.pow(t.a, a.scalar ?? t.b),
  maximum: (t, a) => F.maximum(t.a, a.scalar ?? t.b),
  minimum: (t, a) => F.minimum(t.a, a.scalar ?? t.b),
  eq: (t) => F.eq(t.a, t.b),
  gt: (t) => F.gt(t.a, t.b),
  lt: (t) => F.lt(t.a, t.b),
  where: (t, a) => F.where(t.cond, t.a, a.scalar ?? t.b),
  sum: (t, a) => F.sum(t.x, axesOf(a), a.keepdim),
  mean: (t, a) => F.mean(t.x, axesOf(a), a.keepdim),
  variance: (t, a) => F.variance(t.x, axesOf(a), a.keepdim, a.correction),
  max: (t, a) => F.max(t.x, axesOf(a), a.keepdim),
  min: (t, a) => F.min(t.x, axesOf(a), a.keepdim),
  softmax: (t, a) => F.softmax(t.x, a.axis),
  logSoftmax: (t, a) => F.logSoftmax(t.x, a.axis),
  reshape: (t, a) => F.reshape(t.x, a.shape),
  permute: (t, a) => F.permute(t.x, a.dims),
  transpose: (t, a) => F.transpose(t.x, a.dim0, a.dim1),
  slice: (t, a) => F.slice(t.x, a.axis, a.start, a.end ?? Infinity, a.step),
  concat: (t, a) => F.concat([t.a, t.b, t.c], a.axis),
  stack: (t, a) => F.stack([t.a, t.b], a.axis),
  split: (t, a) => F.split(t.x, a.sizes, a.axis),
  chunk: (t, a) => F.chunk(t.x, a.chunks, a.axis),
  unsqueeze: (t, a) => F.unsqueeze(t.x, a.axis),
  squeeze: (t, a) => F.squeeze(t.x, a.axis),
  expand: (t, a) => F.expand(t.x, a.shape),
  pad: (t, a) => F.pad(t.x, a.pads, a.value),
  indexSelect: (t, a) => F.indexSelect(t.x, a.axis, t.index),
  matmul: (t) => F.matmul(t.a, t.b),
  linear: (t) => F.linear(t.x, t.weight, t.bias ?? null),
  conv2d: (t, a) =>
    F.conv2d(t.x, t.weight, t.bias ?? null, {
      stride: a.stride,
      padding: a.padding,
      dilation: a.dilation,
      groups: a.groups,
    }),
  upsampleNearest: (t, a) => F.upsampleNearest(t.x, a.scale),
  avgPool2d: (t, a) => F.avgPool2d(t.x, a.kernel, a.stride as number | undefined),
  groupNorm: (t, a) => F.groupNorm(t.x, a.groups, t.weight ?? null, t.bias ?? null, a.eps),
  layerNorm: (t, a) => F.layerNorm(t.x, a.normalizedShape, t.weight ?? null, t.bias ?? null, a.eps),
  batchNorm: (t, a, extras) => {
    // batchNorm updates the running statistics in place: give it copies, report the results.
    const state = { runningMean: t.running_mean.clone(), runningVar: t.running_var.clone() };
    const y = F.batchNorm(t.x, state, t.weight ?? null, t.bias ?? null, a.training, a.momentum, a.eps);
    extras.new_running_mean = state.runningMean;
    extras.new_running_var = state.runningVar;
    return y;
  },
  scaledDotProductAttention: (t, a) =>
    F.scaledDotProductAttention(t.q, t.k, t.v, { heads: a.heads, scale: a.scale as number | undefined }),
  embedding: (t) => F.embedding(t.weight, t.indices),
  dropout: (t, a) => F.dropout(t.x, a.p, a.training),
  crossEntropy: (t, a) => F.crossEntropy(t.logits, t.targets, a.reduction),
  mseLoss: (t, a) => F.mseLoss(t.input, t.target, a.reduction),
  l1Loss: (t, a) => F.l1Loss(t.input, t.target, a.reduction),
};

export interface OpCase {
  name: string;
  op: string;
  args: Args;
  /** Roles of the differentiable inputs, in gradient order. */
  inputs: string[];
  /** Roles of inputs that get no gradient (indices, masks, targets, running statistics). */
  constants: string[];
  outputs: number;
  /** Extra results to compare, such as batch norm's updated running statistics. */
  extras: string[];
  /** Whether central differences apply (false at ties and other non-differentiable points). */
  fd: boolean;
  /** Every stored tensor of the case, by role (`x`, `out`, `grad_out.1`, `grad_x`, ...). */
  stored: Map<string, TensorRecord>;
}

export const FIXTURE_PATH = fileURLToPath(new URL('../../../test/fixtures/ops.safetensors', import.meta.url));

/** Every case in the fixture file, in file order. */
export function loadCases(path = FIXTURE_PATH): OpCase[] {
  const file = SafetensorsFile.open(path);
  try {
    const byCase = new Map<string, Map<string, TensorRecord>>();
    for (const key of file.keys()) {
      const dot = key.indexOf('.');
      const [name, role] = [key.slice(0, dot), key.slice(dot + 1)];
      if (!byCase.has(name)) byCase.set(name, new Map());
      byCase.get(name)?.set(role, file.read(key));
    }
    return Object.entries(file.metadata).map(([name, json]) => {
      const spec = JSON.parse(json) as Omit<OpCase, 'name' | 'stored'>;
      if (!(spec.op in OPS)) throw new Error(`fixture case "${name}": no runner for op "${spec.op}"`);
      return { name, ...spec, stored: byCase.get(name) ?? new Map() };
    });
  } finally {
    file.close();
  }
}

/** The stored tensor of a role as a fresh Tensor (its own buffer). */
export function storedTensor(c: OpCase, role: string): Tensor {
  const record = c.stored.get(role);
  if (record === undefined) throw new Error(`fixture case "${c.name}" has no tensor "${role}"`);
  return new Tensor(record.data.slice(), record.shape);
}

/** Roles of the outputs (`out`, or `out.0`, `out.1`, ...) with the given prefix. */
export function outputRoles(c: OpCase, prefix: 'out' | 'grad_out'): string[] {
  return c.outputs === 1 ? [prefix] : Array.from({ length: c.outputs }, (_, i) => `${prefix}.${i}`);
}

/** Fresh leaves for a run: inputs marked as requiring gradients, constants not. */
export function caseLeaves(c: OpCase, requireGrad: boolean): Roles {
  const leaves: Roles = {};
  for (const role of c.inputs) leaves[role] = storedTensor(c, role).requireGrad(requireGrad);
  for (const role of c.constants) leaves[role] = storedTensor(c, role);
  return leaves;
}

/** Runs the case's op on the given leaves; returns its outputs and fills `extras`. */
export function runCase(c: OpCase, leaves: Roles, extras: Roles = {}): Tensor[] {
  const result = OPS[c.op](leaves, c.args, extras);
  return Array.isArray(result) ? result : [result];
}
