// One stage of the LDM U-Net built from the functional ops, for the training-step benchmark:
// a ResBlock (Rombach et al. 2022, App. E; the DDPM ResBlock with a time embedding) and a
// SpatialTransformer (self-attention, cross-attention to a context, GEGLU feed-forward),
// in the CompVis layout. Parameters are plain leaf tensors; bench/torch_peer.py builds the
// same stage from torch modules.
import { F, Generator, Tensor } from '../src/index.js';
import type { LdmBlockSpec } from './cases.js';

interface Affine {
  weight: Tensor;
  bias: Tensor;
}

interface AttentionParams {
  toQ: Tensor;
  toK: Tensor;
  toV: Tensor;
  toOut: Affine;
}

interface LdmBlockParams {
  norm1: Affine;
  conv1: Affine;
  embProj: Affine;
  norm2: Affine;
  conv2: Affine;
  stNorm: Affine;
  projIn: Affine;
  ln1: Affine;
  attn1: AttentionParams;
  ln2: Affine;
  attn2: AttentionParams;
  ln3: Affine;
  ffProj: Affine;
  ffOut: Affine;
  projOut: Affine;
}

function makeParams(spec: LdmBlockSpec, gen: Generator): LdmBlockParams {
  const c = spec.channels;
  // Scaled like PyTorch's default init (std about 1 / sqrt(fan_in)), so activations stay in range.
  const weight = (shape: number[], fanIn: number): Tensor =>
    Tensor.randn(shape, gen)
      .mul(1 / Math.sqrt(fanIn))
      .requireGrad();
  const zeros = (n: number): Tensor => Tensor.zeros([n]).requireGrad();
  const norm = (): Affine => ({ weight: Tensor.ones([c]).requireGrad(), bias: zeros(c) });
  const conv = (k: number): Affine => ({ weight: weight([c, c, k, k], c * k * k), bias: zeros(c) });
  const linear = (inF: number, outF: number): Affine => ({ weight: weight([outF, inF], inF), bias: zeros(outF) });
  const attention = (contextDim: number): AttentionParams => ({
    toQ: weight([c, c], c),
    toK: weight([c, contextDim], contextDim),
    toV: weight([c, contextDim], contextDim),
    toOut: linear(c, c),
  });
  return {
    norm1: norm(),
    conv1: conv(3),
    embProj: linear(spec.embDim, c),
    norm2: norm(),
    conv2: conv(3),
    stNorm: norm(),
    projIn: conv(1),
    ln1: norm(),
    attn1: attention(c),
    ln2: norm(),
    attn2: attention(spec.contextDim),
    ln3: norm(),
    ffProj: linear(c, 8 * c),
    ffOut: linear(4 * c, c),
    projOut: conv(1),
  };
}

function resBlock(p: LdmBlockParams, x: Tensor, emb: Tensor): Tensor {
  const [b, c] = x.shape;
  let h = F.conv2d(F.silu(F.groupNorm(x, 32, p.norm1.weight, p.norm1.bias, 1e-5)), p.conv1.weight, p.conv1.bias, {
    padding: 1,
  });
  const e = F.linear(F.silu(emb), p.embProj.weight, p.embProj.bias); // [B, C]
  h = h.add(e.reshape([b, c, 1, 1]));
  h = F.silu(F.groupNorm(h, 32, p.norm2.weight, p.norm2.bias, 1e-5));
  return x.add(F.conv2d(h, p.conv2.weight, p.conv2.bias, { padding: 1 }));
}

function attention(p: AttentionParams, x: Tensor, context: Tensor, heads: number): Tensor {
  const q = F.linear(x, p.toQ); // [B, T, C], heads packed in C
  const k = F.linear(context, p.toK);
  const v = F.linear(context, p.toV);
  return F.linear(F.scaledDotProductAttention(q, k, v, { heads }), p.toOut.weight, p.toOut.bias);
}

function layerNorm(x: Tensor, p: Affine): Tensor {
  return F.layerNorm(x, [x.shape[x.rank - 1]], p.weight, p.bias);
}

function spatialTransformer(p: LdmBlockParams, x: Tensor, context: Tensor, heads: number): Tensor {
  const [b, c, h, w] = x.shape;
  const projected = F.conv2d(F.groupNorm(x, 32, p.stNorm.weight, p.stNorm.bias, 1e-6), p.projIn.weight, p.projIn.bias);
  let t = projected.reshape([b, c, h * w]).permute([0, 2, 1]); // [B, HW, C]
  const n1 = layerNorm(t, p.ln1);
  t = t.add(attention(p.attn1, n1, n1, heads));
  t = t.add(attention(p.attn2, layerNorm(t, p.ln2), context, heads));
  const [a, gate] = F.linear(layerNorm(t, p.ln3), p.ffProj.weight, p.ffProj.bias).chunk(2, -1); // GEGLU
  t = t.add(F.linear(a.mul(F.gelu(gate)), p.ffOut.weight, p.ffOut.bias));
  const image = t.permute([0, 2, 1]).reshape([b, c, h, w]); // [B, C, H, W]
  return x.add(F.conv2d(image, p.projOut.weight, p.projOut.bias));
}

function leaves(p: LdmBlockParams): Tensor[] {
  return Object.values(p).flatMap((group: Affine | AttentionParams) => Object.values(group).flatMap(flatten));
}

function flatten(v: Tensor | Affine): Tensor[] {
  return v instanceof Tensor ? [v] : [v.weight, v.bias];
}

export interface LdmBlockResult {
  /** Forward+backward time of each timed iteration (ms). */
  times: number[];
  /** Process RSS (bytes) after each iteration, warm-up ones first. */
  rssAfterIteration: number[];
  warmup: number;
}

/** Runs `spec.warmup` + `spec.iterations` training steps (forward, backward, gradients dropped). */
export function runLdmBlock(spec: LdmBlockSpec): LdmBlockResult {
  const warmup = spec.warmup;
  const gen = new Generator(1234);
  const params = makeParams(spec, gen);
  const x = Tensor.randn([spec.batch, spec.channels, spec.size, spec.size], gen).requireGrad();
  const emb = Tensor.randn([spec.batch, spec.embDim], gen);
  const context = Tensor.randn([spec.batch, spec.contextTokens, spec.contextDim], gen);
  const gradOut = Tensor.randn(x.shape, gen);
  const trainable = [x, ...leaves(params)];

  const times: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < warmup + spec.iterations; i++) {
    const start = process.hrtime.bigint();
    for (const t of trainable) t.grad = null;
    const out = spatialTransformer(params, resBlock(params, x, emb), context, spec.heads);
    out.backward(gradOut);
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (i >= warmup) times.push(elapsed);
    rss.push(process.memoryUsage.rss());
  }
  return { times, rssAfterIteration: rss, warmup };
}
