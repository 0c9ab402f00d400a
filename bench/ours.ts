// Our column: each op case through the public functional API, on the current backend.
// Forward cases record no graph (no input requires grad); fwd+bwd cases run the forward,
// then backward with a fixed output gradient, dropping the gradients before each run.
import { F, Generator, Tensor } from '../src/index.js';
import type { AttentionSpec, CaseSpec, Conv2dSpec, GroupNormSiluSpec, MatmulSpec } from './cases.js';
import { unetTrainStep } from './unet-train.js';

type Run = () => void;

function forwardBackward(leaves: readonly Tensor[], forward: () => Tensor, gen: Generator): Run {
  let gradOut: Tensor | null = null;
  return () => {
    for (const t of leaves) t.grad = null;
    const out = forward();
    gradOut ??= Tensor.randn(out.shape, gen);
    out.backward(gradOut);
  };
}

function matmulCase(s: MatmulSpec, gen: Generator): Run {
  const a = Tensor.randn([s.m, s.k], gen);
  const b = Tensor.randn([s.k, s.n], gen);
  return () => F.matmul(a, b);
}

function attentionCase(s: AttentionSpec, gen: Generator): Run {
  const shape = [s.batch, s.tokens, s.heads * s.headDim]; // heads packed in channels
  const [q, k, v] = [0, 1, 2].map(() => Tensor.randn(shape, gen).requireGrad(s.backward));
  const forward = (): Tensor => F.scaledDotProductAttention(q, k, v, { heads: s.heads });
  return s.backward ? forwardBackward([q, k, v], forward, gen) : forward;
}

function conv2dCase(s: Conv2dSpec, gen: Generator): Run {
  const c = s.channels;
  const x = Tensor.randn([s.batch, c, s.size, s.size], gen).requireGrad(s.backward);
  const weight = Tensor.randn([c, c, 3, 3], gen)
    .mul(1 / Math.sqrt(9 * c))
    .requireGrad(s.backward);
  const bias = Tensor.zeros([c]).requireGrad(s.backward);
  const forward = (): Tensor => F.conv2d(x, weight, bias, { padding: 1 });
  return s.backward ? forwardBackward([x, weight, bias], forward, gen) : forward;
}

function groupNormSiluCase(s: GroupNormSiluSpec, gen: Generator): Run {
  const x = Tensor.randn([s.batch, s.channels, s.size, s.size], gen).requireGrad(s.backward);
  const weight = Tensor.ones([s.channels]).requireGrad(s.backward);
  const bias = Tensor.zeros([s.channels]).requireGrad(s.backward);
  const forward = (): Tensor => F.silu(F.groupNorm(x, s.groups, weight, bias, 1e-5));
  return s.backward ? forwardBackward([x, weight, bias], forward, gen) : forward;
}

/** A function running one repetition of an op case (the LDM block has its own runner). */
export function oursCase(spec: Exclude<CaseSpec, { kind: 'ldm_block' }>): Run {
  const gen = new Generator(42);
  switch (spec.kind) {
    case 'matmul':
      return matmulCase(spec, gen);
    case 'attention':
      return attentionCase(spec, gen);
    case 'conv2d':
      return conv2dCase(spec, gen);
    case 'groupnorm_silu':
      return groupNormSiluCase(spec, gen);
    case 'unet_train':
      return unetTrainStep(spec);
  }
}
