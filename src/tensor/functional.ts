// The functional API (like torch.nn.functional): every op as a plain function.
export {
  unary,
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  eq,
  gt,
  lt,
  neg,
  clamp,
  leakyRelu,
  where,
  assertFinite,
} from './ops/elementwise.js';
export { exp, log, sqrt, rsqrt, abs, square, sigmoid, tanh, silu, gelu, geglu, relu } from './ops/elementwise.js';
export { sum, mean, variance, max, min, softmax, logSoftmax, type Axes } from './ops/reduce.js';
export {
  reshape,
  permute,
  transpose,
  slice,
  concat,
  stack,
  split,
  chunk,
  unsqueeze,
  squeeze,
  expand,
  pad,
  indexSelect,
} from './ops/shape-ops.js';
export { matmul, linear } from './ops/linalg.js';
export { conv2d, upsampleNearest, avgPool2d, type Conv2dOptions } from './ops/conv.js';
export { groupNorm, layerNorm, batchNorm, type BatchNormState } from './ops/norm.js';
export { scaledDotProductAttention, type AttentionOptions } from './ops/attention.js';
export { embedding, dropout, crossEntropy, mseLoss, l1Loss, type Reduction } from './ops/losses.js';
