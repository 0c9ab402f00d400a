// SpatialTransformer (Rombach et al. 2022, Sec. 3.3: conditioning through cross-attention), in
// the layout of CompVis ldm.modules.attention:
//   norm (GroupNorm 32, eps 1e-6) -> proj_in (1x1 conv to heads * ch) -> tokens [B, HW, inner]
//   -> transformer_blocks.{d} -> back to [B, inner, H, W] -> proj_out (1x1, zero-init) -> + x.
import { ModuleList, Sequential } from '../../nn/container.js';
import { Conv2d } from '../../nn/conv.js';
import { Dropout } from '../../nn/dropout.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { GroupNorm, LayerNorm } from '../../nn/normalization.js';
import { geglu } from '../../tensor/ops/elementwise.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { CrossAttention } from './cross-attention.js';
import { zeroModule } from './layers.js';

/** GEGLU (Shazeer 2020): `proj` to 2 * dimOut, split into a and gate, a * gelu(gate) with the exact erf GELU. */
export class GEGLU extends Module {
  readonly proj: Linear;

  constructor(dimIn: number, dimOut: number, generator?: Generator) {
    super();
    this.proj = this.registerModule('proj', new Linear(dimIn, 2 * dimOut, { generator }));
  }

  forward(x: Tensor): Tensor {
    return geglu(this.proj.forward(x));
  }
}

/** The gated feed-forward: `net.0` GEGLU(dim -> 4 dim), `net.1` Dropout, `net.2` Linear(4 dim -> dim). */
export class FeedForward extends Module {
  readonly net: Sequential;

  constructor(dim: number, { dropout = 0, generator }: { dropout?: number; generator?: Generator } = {}) {
    super();
    const inner = 4 * dim;
    this.net = this.registerModule(
      'net',
      new Sequential(
        new GEGLU(dim, inner, generator),
        new Dropout(dropout, { generator }),
        new Linear(inner, dim, { generator }),
      ),
    );
  }

  forward(x: Tensor): Tensor {
    return this.net.forward(x);
  }
}

export interface TransformerOptions {
  heads: number;
  headChannels: number;
  /** Width of the cross-attention context (default: the block's own, i.e. self-attention). */
  contextDim?: number;
  dropout?: number;
  generator?: Generator;
}

/**
 * Pre-norm transformer block: x += attn1(norm1 x) (self), x += attn2(norm2 x, context) (cross),
 * x += ff(norm3 x). Registered in CompVis' order: attn1, ff, attn2, norm1, norm2, norm3.
 */
export class BasicTransformerBlock extends Module {
  readonly attn1: CrossAttention;
  readonly ff: FeedForward;
  readonly attn2: CrossAttention;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;

  constructor(
    readonly dim: number,
    { heads, headChannels, contextDim, dropout = 0, generator }: TransformerOptions,
  ) {
    super();
    const attention = { heads, headChannels, dropout, generator };
    this.attn1 = this.registerModule('attn1', new CrossAttention(dim, attention));
    this.ff = this.registerModule('ff', new FeedForward(dim, { dropout, generator }));
    this.attn2 = this.registerModule('attn2', new CrossAttention(dim, { ...attention, contextDim }));
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dim));
    this.norm3 = this.registerModule('norm3', new LayerNorm(dim));
  }

  /** x [B, T, dim], context [B, L, contextDim] (absent: attn2 attends to x, as in CompVis). */
  forward(x: Tensor, context?: Tensor): Tensor {
    let h = x.add(this.attn1.forward(this.norm1.forward(x)));
    const normed = this.norm2.forward(h);
    h = h.add(this.attn2.forward(normed, context ?? normed));
    return h.add(this.ff.forward(this.norm3.forward(h)));
  }
}

export class SpatialTransformer extends Module {
  readonly innerDim: number;
  readonly contextDim: number | undefined;
  readonly norm: GroupNorm;
  readonly projIn: Conv2d;
  readonly transformerBlocks: ModuleList<BasicTransformerBlock>;
  readonly projOut: Conv2d;

  constructor(
    readonly channels: number,
    { depth = 1, ...options }: TransformerOptions & { depth?: number },
  ) {
    super();
    const { heads, headChannels, generator } = options;
    if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(headChannels) || headChannels < 1) {
      throw new Error(
        `SpatialTransformer: needs positive integer heads and head channels, got ${heads} x ${headChannels}`,
      );
    }
    this.innerDim = heads * headChannels;
    this.contextDim = options.contextDim;
    this.norm = this.registerModule('norm', new GroupNorm(32, channels, { eps: 1e-6 }));
    this.projIn = this.registerModule('proj_in', new Conv2d(channels, this.innerDim, 1, { generator }));
    this.transformerBlocks = this.registerModule(
      'transformer_blocks',
      new ModuleList(Array.from({ length: depth }, () => new BasicTransformerBlock(this.innerDim, options))),
    );
    this.projOut = this.registerModule('proj_out', zeroModule(new Conv2d(this.innerDim, channels, 1, { generator })));
  }

  /** x [B, C, H, W], context [B, L, contextDim] -> [B, C, H, W]. */
  forward(x: Tensor, context?: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`SpatialTransformer: expected [B, ${this.channels}, H, W], got ${formatShape(x.shape)}`);
    }
    if (context === undefined && this.contextDim !== undefined && this.contextDim !== this.innerDim) {
      throw new Error(`SpatialTransformer: needs a context [B, L, ${this.contextDim}] for its cross-attention`);
    }
    const [b, , h, w] = x.shape;
    const projected = this.projIn.forward(this.norm.forward(x)); // [B, inner, H, W]
    let tokens = projected.reshape([b, this.innerDim, h * w]).transpose(1, 2); // [B, HW, inner]
    for (const block of this.transformerBlocks) tokens = block.forward(tokens, context);
    const image = tokens.transpose(1, 2).reshape([b, this.innerDim, h, w]); // [B, inner, H, W]
    return x.add(this.projOut.forward(image));
  }
}
