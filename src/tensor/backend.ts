// The narrow kernel interface that every compute backend implements.
//
// Kernels work on flat, contiguous float32 buffers (row-major, NCHW for images) and write
// into an `out` buffer that the caller allocated with the right length. They never
// allocate tensors, never see autograd, and never validate shapes: the tensor layer
// (src/tensor/ops) checks everything before it calls a kernel, so a kernel may assume its
// arguments are consistent. Two implementations exist: `js` (pure TypeScript, the
// correctness oracle) and `native` (the C++ addon in native/).

/** Elementwise y = f(x). `p0`/`p1` are op parameters (see each op). */
export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'square'
  | 'sigmoid'
  | 'tanh'
  | 'silu'
  | 'gelu' // exact: x * Phi(x) with erf
  | 'relu'
  | 'leakyRelu' // p0 = negative slope
  | 'powScalar' // x ** p0
  | 'clamp' // min(max(x, p0), p1); p0/p1 may be -Infinity/Infinity
  | 'affine'; // x * p0 + p1

export const UNARY_OPS: readonly UnaryOp[] = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'abs',
  'square',
  'sigmoid',
  'tanh',
  'silu',
  'gelu',
  'relu',
  'leakyRelu',
  'powScalar',
  'clamp',
  'affine',
];

/** Elementwise z = f(a, b) with broadcasting. Comparisons give 1 or 0. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'eq' | 'gt' | 'lt';

export const BINARY_OPS: readonly BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
  'eq',
  'gt',
  'lt',
];

/**
 * Broadcast layout of a binary op: the output shape and, for each input, its element
 * strides over the output's axes (0 on an axis where that input is broadcast).
 * All three arrays have the same length (the output rank, at least 1).
 */
export interface BroadcastLayout {
  outShape: readonly number[];
  aStrides: readonly number[];
  bStrides: readonly number[];
}

/** Reductions over the middle axis of a [outer, size, inner] view. */
export type ReduceOp = 'sum' | 'max' | 'min';

/**
 * Batched matrix product: for each b < batch, out[b] = opA(a[b]) @ opB(b[b]) where opA(a[b])
 * is [m, k] and opB(b[b]) is [k, n]; out is [batch, m, n] contiguous.
 * a[b] starts at b * aBatchStride (0 to broadcast one matrix over the batch), and likewise
 * for b. With transA, a[b] is stored [k, m] row-major; with transB, b[b] is stored [n, k].
 */
export interface MatmulParams {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  aBatchStride: number;
  bBatchStride: number;
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch). x is [n, cIn, h, w], weight is
 * [cOut, cIn / groups, kh, kw], out is [n, cOut, outH, outW]. Padding may be asymmetric:
 * padTop/padLeft zeros before, and as many after as the output size needs (the tensor layer
 * computes outH/outW from padBottom/padRight). Rows or columns that fall beyond the padded
 * input are never read.
 */
export interface Conv2dParams {
  n: number;
  cIn: number;
  h: number;
  w: number;
  cOut: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  dilationH: number;
  dilationW: number;
  groups: number;
  outH: number;
  outW: number;
}

/**
 * Multi-head scaled dot-product attention with heads packed in the channel axis, which is
 * how linear projections produce them, so no permute copies are needed:
 * q is [batch, tq, heads * d], k is [batch, tk, heads * d], v is [batch, tk, heads * dv],
 * out is [batch, tq, heads * dv]. Head h of q is q[:, :, h*d:(h+1)*d], and so on.
 * out = softmax(scale * q k^T) v per batch and head. `lse` is [batch, heads, tq]: the
 * log-sum-exp of each row of scale * q k^T, saved by the forward for the backward.
 */
export interface AttentionParams {
  batch: number;
  heads: number;
  tq: number;
  tk: number;
  d: number;
  dv: number;
  scale: number;
}

/**
 * One Adam / AdamW update without an L2 term or amsgrad (src/optim/adam.ts derives these from
 * the hyper-parameters and the step count): with g the gradient, in double precision,
 *   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2   (each rounded to float32)
 *   p <- round(p * keep) - stepSize * m / (sqrt(v) / biasCorrection2Sqrt + eps)
 */
export interface AdamStepParams {
  beta1: number;
  beta2: number;
  eps: number;
  /** AdamW's decoupled decay factor 1 - lr * weightDecay (1 for Adam). */
  keep: number;
  /** lr / (1 - beta1^t). */
  stepSize: number;
  /** sqrt(1 - beta2^t). */
  biasCorrection2Sqrt: number;
}

export interface Backend {
  readonly name: 'js' | 'native';

  /** out[i] = f(x[i]). */
  unary(op: UnaryOp, x: Float32Array, out: Float32Array, p0: number, p1: number): void;
  /** gx[i] = gy[i] * f'(x[i]); y = f(x) is given too, since some derivatives are cheaper from it. */
  unaryGrad(
    op: UnaryOp,
    x: Float32Array,
    y: Float32Array,
    gy: Float32Array,
    gx: Float32Array,
    p0: number,
    p1: number,
  ): void;

  /** out = f(a, b) over the broadcast layout; out has prod(layout.outShape) elements. */
  binary(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array, layout: BroadcastLayout): void;

  /** out[o, i] = reduce over s of x[o, s, i]; out has outer * inner elements. */
  reduce(op: ReduceOp, x: Float32Array, out: Float32Array, outer: number, size: number, inner: number): void;

  /** Softmax (or log-softmax) over the middle axis of [outer, size, inner]. */
  softmax(x: Float32Array, out: Float32Array, outer: number, size: number, inner: number, log: boolean): void;
  /** Given y = softmax(x) (or log_softmax) and gy, gx = dL/dx. */
  softmaxGrad(
    y: Float32Array,
    gy: Float32Array,
    gx: Float32Array,
    outer: number,
    size: number,
    inner: number,
    log: boolean,
  ): void;

  /**
   * GEGLU's gate over rows of x [rows, 2 * half]: out[r, j] = x[r, j] * gelu(x[r, half + j])
   * with the exact erf GELU; out is [rows, half].
   */
  geglu(x: Float32Array, out: Float32Array, rows: number, half: number): void;
  /** Its backward: gx [rows, 2 * half] from gy [rows, half]. Overwrites gx. */
  gegluGrad(x: Float32Array, gy: Float32Array, gx: Float32Array, rows: number, half: number): void;

  /**
   * Batched (and broadcast) matrix product; see MatmulParams. Overwrites out. A bias ([n], or
   * null) is added to every row of every product: a linear layer in one pass.
   */
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, p: MatmulParams, bias: Float32Array | null): void;

  /** out = conv2d(x, weight) + bias (bias [cOut] or null). Overwrites out. */
  conv2d(x: Float32Array, weight: Float32Array, bias: Float32Array | null, out: Float32Array, p: Conv2dParams): void;
  /** gx = dL/dx given gy = dL/dout. Overwrites gx. */
  conv2dGradInput(gy: Float32Array, weight: Float32Array, gx: Float32Array, p: Conv2dParams): void;
  /** gw = dL/dweight given gy = dL/dout. Overwrites gw. */
  conv2dGradWeight(x: Float32Array, gy: Float32Array, gw: Float32Array, p: Conv2dParams): void;

  /**
   * Group normalisation of x [n, c, hw] in `groups` groups of c / groups channels, then
   * per-channel affine (gamma, beta [c], or null for none). Writes out, and the per-(n, group)
   * mean and reciprocal standard deviation [n * groups] for the backward.
   */
  groupNorm(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    out: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    n: number,
    c: number,
    hw: number,
    groups: number,
    eps: number,
  ): void;
  /** Backward of groupNorm. gGamma/gBeta (may be null) are summed over the batch; all outputs overwritten. */
  groupNormGrad(
    x: Float32Array,
    gy: Float32Array,
    gamma: Float32Array | null,
    mean: Float32Array,
    rstd: Float32Array,
    gx: Float32Array,
    gGamma: Float32Array | null,
    gBeta: Float32Array | null,
    n: number,
    c: number,
    hw: number,
    groups: number,
  ): void;

  /** Layer normalisation over the last axis of x [rows, cols]; mean/rstd are [rows]. */
  layerNorm(
    x: Float32Array,
    gamma: Float32Array | null,
    beta: Float32Array | null,
    out: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layerNormGrad(
    x: Float32Array,
    gy: Float32Array,
    gamma: Float32Array | null,
    mean: Float32Array,
    rstd: Float32Array,
    gx: Float32Array,
    gGamma: Float32Array | null,
    gBeta: Float32Array | null,
    rows: number,
    cols: number,
  ): void;

  /** Fused attention forward; see AttentionParams. Writes out and lse. */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    p: AttentionParams,
  ): void;
  /** Attention backward (recomputes the probabilities from lse). Overwrites gq, gk, gv. */
  attentionGrad(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    gOut: Float32Array,
    gq: Float32Array,
    gk: Float32Array,
    gv: Float32Array,
    p: AttentionParams,
  ): void;

  /** Nearest upsampling of x [planes, h, w] by integer factors to [planes, h*sh, w*sw]. */
  upsampleNearest(
    x: Float32Array,
    out: Float32Array,
    planes: number,
    h: number,
    w: number,
    sh: number,
    sw: number,
  ): void;
  /** Its backward: gx[p, i, j] = sum of the sh x sw block of gy. */
  upsampleNearestGrad(
    gy: Float32Array,
    gx: Float32Array,
    planes: number,
    h: number,
    w: number,
    sh: number,
    sw: number,
  ): void;

  /** Average pooling of x [planes, h, w], window k, stride s, no padding, floor mode. */
  avgPool2d(x: Float32Array, out: Float32Array, planes: number, h: number, w: number, k: number, s: number): void;
  avgPool2dGrad(gy: Float32Array, gx: Float32Array, planes: number, h: number, w: number, k: number, s: number): void;

  /**
   * Strided copy, the one data-movement kernel behind permute, slice, concat, pad and expand:
   * for every index tuple i over `shape`,
   * dst[dstOffset + sum(i * dstStrides)] = src[srcOffset + sum(i * srcStrides)].
   */
  copyStrided(
    src: Float32Array,
    srcOffset: number,
    srcStrides: readonly number[],
    dst: Float32Array,
    dstOffset: number,
    dstStrides: readonly number[],
    shape: readonly number[],
  ): void;

  /** One Adam / AdamW update in place of param, expAvg and expAvgSq (all the same length). */
  adamStep(
    param: Float32Array,
    grad: Float32Array,
    expAvg: Float32Array,
    expAvgSq: Float32Array,
    p: AdamStepParams,
  ): void;

  /** Number of threads native kernels use (always 1 for js). */
  setNumThreads(n: number): void;
  getNumThreads(): number;
}
