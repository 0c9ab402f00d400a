// CrossAttention (CompVis ldm.modules.attention): multi-head attention of a token sequence to a
// context sequence, or to itself when no context is given. Keys: `to_q`, `to_k`, `to_v` (no
// bias), `to_out.0` (with bias; `to_out.1` is a parameterless Dropout).
import { Sequential } from '../../nn/container.js';
import { Dropout } from '../../nn/dropout.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface CrossAttentionOptions {
  /** Width of the context tokens (default: queryDim, i.e. self-attention). */
  contextDim?: number;
  heads?: number;
  headChannels?: number;
  dropout?: number;
  generator?: Generator;
}

export class CrossAttention extends Module {
  readonly contextDim: number;
  readonly heads: number;
  readonly headChannels: number;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Sequential;

  constructor(
    readonly queryDim: number,
    { contextDim = queryDim, heads = 8, headChannels = 64, dropout = 0, generator }: CrossAttentionOptions = {},
  ) {
    super();
    this.contextDim = contextDim;
    this.heads = heads;
    this.headChannels = headChannels;
    const inner = heads * headChannels;
    this.toQ = this.registerModule('to_q', new Linear(queryDim, inner, { bias: false, generator }));
    this.toK = this.registerModule('to_k', new Linear(contextDim, inner, { bias: false, generator }));
    this.toV = this.registerModule('to_v', new Linear(contextDim, inner, { bias: false, generator }));
    this.toOut = this.registerModule(
      'to_out',
      new Sequential(new Linear(inner, queryDim, { generator }), new Dropout(dropout, { generator })),
    );
  }

  /** x [B, T, queryDim], context [B, L, contextDim] (default x) -> [B, T, queryDim]. */
  forward(x: Tensor, context: Tensor = x): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.queryDim) {
      throw new Error(`CrossAttention: expected x [B, T, ${this.queryDim}], got ${formatShape(x.shape)}`);
    }
    if (context.rank !== 3 || context.shape[0] !== x.shape[0] || context.shape[2] !== this.contextDim) {
      throw new Error(
        `CrossAttention: expected context [${x.shape[0]}, L, ${this.contextDim}] for x ${formatShape(x.shape)}, got ${formatShape(context.shape)}`,
      );
    }
    // Heads stay packed in the channel axis ([B, T, heads * ch]), as the fused op takes them.
    const q = this.toQ.forward(x);
    const k = this.toK.forward(context);
    const v = this.toV.forward(context);
    const attended = scaledDotProductAttention(q, k, v, { heads: this.heads, scale: 1 / Math.sqrt(this.headChannels) });
    return this.toOut.forward(attended);
  }
}
