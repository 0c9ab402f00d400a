// The benchmark cases: shapes from the performance issue, the same for every column.
// Specs are plain JSON so that bench/torch_peer.py receives exactly the same list.

export interface MatmulSpec {
  kind: 'matmul';
  m: number;
  n: number;
  k: number;
}

/** Multi-head attention; ours takes heads packed in channels [B, T, H*D], peers [B, H, T, D]. */
export interface AttentionSpec {
  kind: 'attention';
  batch: number;
  heads: number;
  tokens: number;
  headDim: number;
  backward: boolean;
}

/** 3x3 convolution, stride 1, padding 1, with bias, channels in = channels out. */
export interface Conv2dSpec {
  kind: 'conv2d';
  batch: number;
  channels: number;
  size: number;
  backward: boolean;
}

/** silu(group_norm(x)) with per-channel affine, as at the start of every ResBlock. */
export interface GroupNormSiluSpec {
  kind: 'groupnorm_silu';
  batch: number;
  channels: number;
  size: number;
  groups: number;
  backward: boolean;
}

/** One LDM U-Net stage, ResBlock + SpatialTransformer, forward + backward (bench/ldm-block.ts). */
export interface LdmBlockSpec {
  kind: 'ldm_block';
  batch: number;
  channels: number;
  size: number;
  heads: number;
  contextTokens: number;
  contextDim: number;
  /** Width of the timestep embedding fed to the ResBlock's emb_layers. */
  embDim: number;
  /** Our untimed first iterations; the RSS growth is measured from the end of these. */
  warmup: number;
  /** Our timed iterations, with the process RSS recorded after each; peers use the usual timing policy. */
  iterations: number;
}

/**
 * One training step of the whole LDM U-Net (CompVis UNetModel with spatial transformers):
 * forward on noisy latents, MSE loss against a target, backward, AdamW over all parameters.
 * Ours is bench/unet-train.ts; torch runs scripts/unet_reference.py (bench/torch_peer.py).
 */
export interface UNetTrainSpec {
  kind: 'unet_train';
  batch: number;
  /** Latent channels (in = out) and side. */
  channels: number;
  size: number;
  modelChannels: number;
  channelMult: number[];
  numResBlocks: number;
  attentionResolutions: number[];
  numHeadChannels: number;
  transformerDepth: number;
  contextDim: number;
  contextTokens: number;
  /** Timesteps are drawn once, uniformly from [0, timesteps). */
  timesteps: number;
  /** The model's parameter count; both columns refuse to run a model of another size. */
  parameters: number;
}

export type CaseSpec = MatmulSpec | AttentionSpec | Conv2dSpec | GroupNormSiluSpec | LdmBlockSpec | UNetTrainSpec;

export interface BenchCase {
  id: string;
  /** What the row shows. */
  label: string;
  spec: CaseSpec;
  /** Floating-point work of one run (GFLOP), or null where the op is memory-bound and a rate says little. */
  gflop: number | null;
}

function attentionForwardFlop(s: AttentionSpec): number {
  // q k^T and p v: two [T, T, D] products per batch and head.
  return 2 * 2 * s.batch * s.heads * s.tokens * s.tokens * s.headDim;
}

function conv2dForwardFlop(s: Conv2dSpec): number {
  return 2 * s.batch * s.channels * s.channels * 9 * s.size * s.size;
}

/** Forward GFLOP of the LDM block's products (convs, linears, attention); norms and pointwise ops left out. */
function ldmBlockForwardFlop(s: LdmBlockSpec): number {
  const c = s.channels;
  const tokens = s.size * s.size;
  const rows = s.batch * tokens; // pixels seen as tokens
  const conv3x3 = 2 * rows * c * c * 9;
  const linear = (r: number, i: number, o: number): number => 2 * r * i * o;
  const attentionCore = (tk: number): number => 2 * 2 * s.batch * tokens * tk * c; // all heads together
  const ctxRows = s.batch * s.contextTokens;
  return (
    2 * conv3x3 +
    linear(s.batch, s.embDim, c) +
    2 * linear(rows, c, c) + // proj_in, proj_out (1x1 convs)
    4 * linear(rows, c, c) + // attn1 q, k, v, out
    attentionCore(tokens) +
    2 * linear(rows, c, c) + // attn2 q, out
    2 * linear(ctxRows, s.contextDim, c) + // attn2 k, v
    attentionCore(s.contextTokens) +
    linear(rows, c, 8 * c) + // GEGLU projection
    linear(rows, 4 * c, c)
  );
}

/** Backward of a product costs two products (input and weight gradients): fwd+bwd is 3x forward. */
const FWD_BWD = 3;

function make(id: string, label: string, spec: CaseSpec): BenchCase {
  let flop: number | null;
  switch (spec.kind) {
    case 'matmul':
      flop = 2 * spec.m * spec.n * spec.k;
      break;
    case 'attention':
      flop = attentionForwardFlop(spec) * (spec.backward ? FWD_BWD : 1);
      break;
    case 'conv2d':
      flop = conv2dForwardFlop(spec) * (spec.backward ? FWD_BWD : 1);
      break;
    case 'groupnorm_silu':
    case 'unet_train':
      flop = null;
      break;
    case 'ldm_block':
      flop = ldmBlockForwardFlop(spec) * FWD_BWD;
      break;
  }
  return { id, label, spec, gflop: flop === null ? null : flop / 1e9 };
}

const attention = { kind: 'attention', batch: 2, heads: 8, tokens: 1024, headDim: 64 } as const;

/** The U-Net of configs/ldm/cpu/mnist-class-f4.yaml (8x8x3 latents, class context of one token), at width mc. */
function mnistUNet(modelChannels: number, parameters: number): UNetTrainSpec {
  return {
    kind: 'unet_train',
    batch: 64,
    channels: 3,
    size: 8,
    modelChannels,
    channelMult: [1, 2],
    numResBlocks: 2,
    attentionResolutions: [1, 2],
    numHeadChannels: 32,
    transformerDepth: 1,
    contextDim: modelChannels,
    contextTokens: 1,
    timesteps: 1000,
    parameters,
  };
}
const gnSilu = { kind: 'groupnorm_silu', batch: 16, channels: 128, size: 32, groups: 32 } as const;

export const CASES: readonly BenchCase[] = [
  make('matmul', 'matmul 1024x1024x1024', { kind: 'matmul', m: 1024, n: 1024, k: 1024 }),
  make('attention-fwd', 'attention B2 H8 T1024 D64 fwd', { ...attention, backward: false }),
  make('attention-fwdbwd', 'attention B2 H8 T1024 D64 fwd+bwd', { ...attention, backward: true }),
  make('conv-64x32-fwd', 'conv3x3 N16 64->64 32x32 fwd', {
    kind: 'conv2d',
    batch: 16,
    channels: 64,
    size: 32,
    backward: false,
  }),
  make('conv-64x32-fwdbwd', 'conv3x3 N16 64->64 32x32 fwd+bwd', {
    kind: 'conv2d',
    batch: 16,
    channels: 64,
    size: 32,
    backward: true,
  }),
  make('conv-128x16-fwd', 'conv3x3 N16 128->128 16x16 fwd', {
    kind: 'conv2d',
    batch: 16,
    channels: 128,
    size: 16,
    backward: false,
  }),
  make('conv-128x16-fwdbwd', 'conv3x3 N16 128->128 16x16 fwd+bwd', {
    kind: 'conv2d',
    batch: 16,
    channels: 128,
    size: 16,
    backward: true,
  }),
  make('groupnorm-silu-fwd', 'group_norm(32)+silu [16,128,32,32] fwd', { ...gnSilu, backward: false }),
  make('groupnorm-silu-fwdbwd', 'group_norm(32)+silu [16,128,32,32] fwd+bwd', { ...gnSilu, backward: true }),
  make('ldm-block', 'LDM ResBlock+SpatialTransformer B4 C128 16x16 fwd+bwd', {
    kind: 'ldm_block',
    batch: 4,
    channels: 128,
    size: 16,
    heads: 4,
    contextTokens: 8,
    contextDim: 128,
    embDim: 512,
    warmup: 5,
    iterations: 30,
  }),
  make('unet-train-mc32', 'U-Net train step mc32 (1.54M) B64 3x8x8', mnistUNet(32, 1_542_435)),
  make('unet-train-mc64', 'U-Net train step mc64 (6.13M) B64 3x8x8', mnistUNet(64, 6_132_291)),
];

/** The cases whose id contains `filter` (all when it is undefined). */
export function selectCases(filter: string | undefined): BenchCase[] {
  const chosen = CASES.filter((c) => filter === undefined || c.id.includes(filter));
  if (chosen.length === 0) {
    throw new Error(`--only ${filter}: no case id contains it; ids are ${CASES.map((c) => c.id).join(', ')}`);
  }
  return chosen;
}
