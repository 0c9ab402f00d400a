// The transformer of CompVis' text encoders (ldm/modules/x_transformer.py, after lucidrains'
// x-transformers): TransformerWrapper around an Encoder of pre-norm self-attention and
// feed-forward layers (Vaswani et al. 2017, with the norm moved before each block). Only the
// configuration that BERTEmbedder and TransformerEmbedder build is implemented: learned absolute
// positions, LayerNorm, softmax attention without masks, memory or relative positions.
//
// State-dict keys (as in the original):
//   token_emb.weight                      [num_tokens, dim]
//   pos_emb.emb.weight                    [max_seq_len, dim]
//   attn_layers.layers.{2i}.0.*           LayerNorm before the attention of layer i
//   attn_layers.layers.{2i}.1.to_q|to_k|to_v.weight   [heads * dim_head, dim] (no bias)
//   attn_layers.layers.{2i}.1.to_out.*    Linear(heads * dim_head, dim) with bias
//   attn_layers.layers.{2i+1}.0.*         LayerNorm before the feed-forward of layer i
//   attn_layers.layers.{2i+1}.1.net.0.0.* Linear(dim, mult * dim), then exact GELU (net.0.1)
//   attn_layers.layers.{2i+1}.1.net.2.*   Linear(mult * dim, dim) (net.1 is a Dropout)
//   norm.*                                final LayerNorm
//   to_logits.*                           Linear(dim, num_tokens); unused by the embedders, but
//                                         the original always builds it, so checkpoints hold it
// Each layer's third entry in the original (`.2`, the residual add) has no parameters.
import { GELU } from '../../nn/activation.js';
import { ModuleList, Sequential } from '../../nn/container.js';
import { Dropout } from '../../nn/dropout.js';
import { Embedding } from '../../nn/embedding.js';
import { normal_ } from '../../nn/init.js';
import { Linear } from '../../nn/linear.js';
import { Module, type TensorModule } from '../../nn/module.js';
import { LayerNorm } from '../../nn/normalization.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { Generator, defaultGenerator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';

/** x-transformers' DEFAULT_DIM_HEAD and default head count. */
export const DEFAULT_HEADS = 8;
export const DEFAULT_DIM_HEAD = 64;
/** The feed-forward's hidden width as a multiple of dim (x-transformers' ff_mult). */
export const FEED_FORWARD_MULT = 4;

/** Multi-head self-attention over all positions (no mask: padding tokens are attended too). */
export class Attention extends Module {
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;

  constructor(
    readonly dim: number,
    readonly heads = DEFAULT_HEADS,
    readonly dimHead = DEFAULT_DIM_HEAD,
    generator: Generator = defaultGenerator,
  ) {
    super();
    const inner = heads * dimHead;
    this.toQ = this.registerModule('to_q', new Linear(dim, inner, { bias: false, generator }));
    this.toK = this.registerModule('to_k', new Linear(dim, inner, { bias: false, generator }));
    this.toV = this.registerModule('to_v', new Linear(dim, inner, { bias: false, generator }));
    this.toOut = this.registerModule('to_out', new Linear(inner, dim, { generator }));
  }

  /** x [B, T, dim] -> [B, T, dim]. */
  forward(x: Tensor): Tensor {
    // Heads stay packed in the channel axis ([B, T, heads * dimHead]), as the fused op takes them;
    // it computes softmax(q k^T * dimHead^-0.5) v per head in one batched kernel.
    const q = this.toQ.forward(x);
    const k = this.toK.forward(x);
    const v = this.toV.forward(x);
    const attended = scaledDotProductAttention(q, k, v, { heads: this.heads, scale: this.dimHead ** -0.5 });
    return this.toOut.forward(attended);
  }
}

/** Linear -> GELU -> Dropout -> Linear, keyed net.0.0, net.2 as in x-transformers (glu off). */
export class FeedForward extends Module {
  readonly net: Sequential;

  constructor(dim: number, mult = FEED_FORWARD_MULT, dropout = 0, generator: Generator = defaultGenerator) {
    super();
    const inner = dim * mult;
    const projectIn = new Sequential(new Linear(dim, inner, { generator }), new GELU());
    this.net = this.registerModule(
      'net',
      new Sequential(projectIn, new Dropout(dropout, { generator }), new Linear(inner, dim, { generator })),
    );
  }

  forward(x: Tensor): Tensor {
    return this.net.forward(x);
  }
}

/** One residual branch with its norm first: x + block(norm(x)); keys `0` (norm) and `1` (block). */
export class PreNormResidual extends Module {
  readonly norm: LayerNorm;
  readonly block: TensorModule;

  constructor(dim: number, block: TensorModule) {
    super();
    this.norm = this.registerModule('0', new LayerNorm(dim));
    this.block = this.registerModule('1', block);
  }

  forward(x: Tensor): Tensor {
    return this.block.forward(this.norm.forward(x)).add(x);
  }
}

export interface TransformerEncoderOptions {
  heads?: number;
  dimHead?: number;
  generator?: Generator;
}

/** x-transformers' Encoder (AttentionLayers, non-causal, pre-norm): depth x (attention, feed-forward). */
export class TransformerEncoder extends Module {
  readonly heads: number;
  readonly dimHead: number;
  readonly layers: ModuleList<PreNormResidual>;

  constructor(
    readonly dim: number,
    readonly depth: number,
    { heads = DEFAULT_HEADS, dimHead = DEFAULT_DIM_HEAD, generator = defaultGenerator }: TransformerEncoderOptions = {},
  ) {
    super();
    for (const [name, value] of Object.entries({ dim, depth, heads, dimHead })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`TransformerEncoder: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.heads = heads;
    this.dimHead = dimHead;
    this.layers = this.registerModule('layers', new ModuleList<PreNormResidual>());
    for (let i = 0; i < depth; i++) {
      this.layers.append(new PreNormResidual(dim, new Attention(dim, heads, dimHead, generator)));
      this.layers.append(new PreNormResidual(dim, new FeedForward(dim, FEED_FORWARD_MULT, 0, generator)));
    }
  }

  /** x [B, T, dim] -> [B, T, dim] (before the wrapper's final norm). */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y);
    return y;
  }
}

/** Learned positions (x-transformers' AbsolutePositionalEmbedding): key `emb.weight`, init N(0, 0.02^2). */
export class AbsolutePositionalEmbedding extends Module {
  readonly emb: Embedding;

  constructor(dim: number, maxSeqLen: number, generator: Generator = defaultGenerator) {
    super();
    this.emb = this.registerModule('emb', new Embedding(maxSeqLen, dim, { generator }));
    normal_(this.emb.weight, 0, 0.02, generator);
  }

  /** The embeddings of positions 0..length-1, [1, length, dim]. */
  forward(length: number): Tensor {
    const { numEmbeddings, embeddingDim } = this.emb;
    if (!Number.isInteger(length) || length < 1 || length > numEmbeddings) {
      throw new Error(`AbsolutePositionalEmbedding: length must be an integer in [1, ${numEmbeddings}], got ${length}`);
    }
    return this.emb.weight.slice(0, 0, length).reshape([1, length, embeddingDim]);
  }
}

export interface TransformerWrapperOptions {
  /** Dropout on the summed token and position embeddings (emb_dropout, default 0). */
  embDropout?: number;
  generator?: Generator;
}

/** Token ids [B, T] -> token embeddings + positions -> TransformerEncoder -> LayerNorm (-> to_logits). */
export class TransformerWrapper extends Module {
  readonly tokenEmb: Embedding;
  readonly posEmb: AbsolutePositionalEmbedding;
  readonly embDropout: Dropout;
  readonly attnLayers: TransformerEncoder;
  readonly norm: LayerNorm;
  readonly toLogits: Linear;

  constructor(
    readonly numTokens: number,
    readonly maxSeqLen: number,
    attnLayers: TransformerEncoder,
    { embDropout = 0, generator = defaultGenerator }: TransformerWrapperOptions = {},
  ) {
    super();
    if (!Number.isInteger(maxSeqLen) || maxSeqLen < 1) {
      throw new Error(`TransformerWrapper: max_seq_len must be a positive integer, got ${maxSeqLen}`);
    }
    const dim = attnLayers.dim;
    this.tokenEmb = this.registerModule('token_emb', new Embedding(numTokens, dim, { generator }));
    normal_(this.tokenEmb.weight, 0, 0.02, generator);
    this.posEmb = this.registerModule('pos_emb', new AbsolutePositionalEmbedding(dim, maxSeqLen, generator));
    this.embDropout = this.registerModule('emb_dropout', new Dropout(embDropout, { generator }));
    this.attnLayers = this.registerModule('attn_layers', attnLayers);
    this.norm = this.registerModule('norm', new LayerNorm(dim));
    this.toLogits = this.registerModule('to_logits', new Linear(dim, numTokens, { generator }));
  }

  get dim(): number {
    return this.attnLayers.dim;
  }

  /** Token ids [B, T] (T <= max_seq_len) -> embeddings [B, T, dim] after the final norm (return_embeddings=True). */
  embed(tokens: Tensor): Tensor {
    if (tokens.rank !== 2 || tokens.shape[1] < 1 || tokens.shape[1] > this.maxSeqLen) {
      throw new Error(
        `TransformerWrapper: expected token ids [B, T] with 1 <= T <= ${this.maxSeqLen}, got ${formatShape(tokens.shape)}`,
      );
    }
    const bad = tokens.data.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= this.numTokens);
    if (bad !== -1) {
      throw new Error(
        `TransformerWrapper: token id ${tokens.data[bad]} at ${bad} is not an integer in [0, ${this.numTokens})`,
      );
    }
    const x = this.tokenEmb.forward(tokens).add(this.posEmb.forward(tokens.shape[1])); // [B, T, dim]
    return this.norm.forward(this.attnLayers.forward(this.embDropout.forward(x)));
  }

  /** Token ids [B, T] -> logits over the vocabulary [B, T, num_tokens] (the original's default output). */
  forward(tokens: Tensor): Tensor {
    return this.toLogits.forward(this.embed(tokens));
  }
}
