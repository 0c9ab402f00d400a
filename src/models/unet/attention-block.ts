// AttentionBlock: multi-head self-attention over the H*W positions (CompVis openaimodel), used at
// attention levels when use_spatial_transformer is off. Keys: `norm` (GroupNorm 32, eps 1e-5),
// `qkv` and `proj_out` (1x1 Conv1d weights [out, in, 1]; proj_out zero-initialised).
import { kaimingUniform_, uniform_ } from '../../nn/init.js';
import { Module } from '../../nn/module.js';
import type { GroupNorm } from '../../nn/normalization.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { matmul } from '../../tensor/ops/linalg.js';
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { normalization, zeroModule } from './layers.js';

/** torch.nn.Conv1d with kernel size 1: weight [out, in, 1], bias [out]; x [N, in, T] -> [N, out, T]. */
export class PointwiseConv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    generator: Generator = defaultGenerator,
  ) {
    super();
    this.weight = this.registerParameter('weight', Tensor.zeros([outChannels, inChannels, 1]));
    this.bias = this.registerParameter('bias', Tensor.zeros([outChannels]));
    // PyTorch's Conv1d default: U(-1/sqrt(in), 1/sqrt(in)) for both.
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    uniform_(this.bias, -1 / Math.sqrt(inChannels), 1 / Math.sqrt(inChannels), generator);
  }

  forward(x: Tensor): Tensor {
    // [out, in] @ [N, in, T] -> [N, out, T]; the 2-D weight is shared across the batch.
    const y = matmul(this.weight.reshape([this.outChannels, this.inChannels]), x);
    return y.add(this.bias.reshape([this.outChannels, 1]));
  }
}

export interface AttentionBlockOptions {
  heads: number;
  /** Split qkv into q, k, v before the heads (true), or per head (false: CompVis' legacy default). */
  useNewAttentionOrder?: boolean;
  generator?: Generator;
}

/**
 * x + proj_out(attention(qkv(norm(x)))) over the flattened positions. Scores are scaled by
 * 1 / sqrt(head channels) (CompVis scales q and k each by its fourth root). Legacy head order:
 * qkv [N, 3C, T] is viewed as [N * heads, 3 * ch, T], each head's q, k, v contiguous; new order:
 * q, k, v are the three thirds of 3C, each split into heads.
 */
export class AttentionBlock extends Module {
  readonly heads: number;
  readonly headChannels: number;
  readonly useNewAttentionOrder: boolean;
  readonly norm: GroupNorm;
  readonly qkv: PointwiseConv1d;
  readonly projOut: PointwiseConv1d;

  constructor(
    readonly channels: number,
    { heads, useNewAttentionOrder = false, generator }: AttentionBlockOptions,
  ) {
    super();
    if (!Number.isInteger(heads) || heads < 1 || channels % heads !== 0) {
      throw new Error(`AttentionBlock: ${heads} heads do not divide ${channels} channels`);
    }
    this.heads = heads;
    this.headChannels = channels / heads;
    this.useNewAttentionOrder = useNewAttentionOrder;
    this.norm = this.registerModule('norm', normalization(channels));
    this.qkv = this.registerModule('qkv', new PointwiseConv1d(channels, 3 * channels, generator));
    this.projOut = this.registerModule('proj_out', zeroModule(new PointwiseConv1d(channels, channels, generator)));
  }

  /** x [N, C, H, W] -> [N, C, H, W]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`AttentionBlock: expected [N, ${this.channels}, H, W], got ${formatShape(x.shape)}`);
    }
    const [n, c, h, w] = x.shape;
    const t = h * w;
    const flat = x.reshape([n, c, t]);
    const qkv = this.qkv.forward(this.norm.forward(flat)); // [N, 3C, T]
    const scale = 1 / Math.sqrt(this.headChannels);
    let attended: Tensor;
    if (this.useNewAttentionOrder) {
      // [N, T, 3C] = [q | k | v], each with the heads packed as heads * ch: the fused op's layout.
      const [q, k, v] = qkv.transpose(1, 2).split(c, 2);
      attended = scaledDotProductAttention(q, k, v, { heads: this.heads, scale }).transpose(1, 2); // [N, C, T]
    } else {
      // [N * heads, T, 3 * ch] = per head [q | k | v]; one head per batch row of the fused op.
      const perHead = qkv.reshape([n * this.heads, 3 * this.headChannels, t]).transpose(1, 2);
      const [q, k, v] = perHead.split(this.headChannels, 2);
      attended = scaledDotProductAttention(q, k, v, { heads: 1, scale }).transpose(1, 2).reshape([n, c, t]);
    }
    return flat.add(this.projOut.forward(attended)).reshape([n, c, h, w]);
  }
}
