// UNetModel: the time-conditional U-Net of latent diffusion (Rombach et al. 2022, Sec. 3.3 and
// App. E), with the architecture and parameter names of CompVis' openaimodel.UNetModel, so that
// the `model.diffusion_model.*` tensors of a CompVis or Stable Diffusion v1 checkpoint load as
// they are:
//   time_embed.{0,2}            Linear(mc, 4mc), SiLU, Linear(4mc, 4mc)
//   label_emb                   Embedding(num_classes, 4mc), with num_classes
//   input_blocks.0.0            conv_in
//   input_blocks.N.{0,1}        per level: num_res_blocks x [ResBlock, attention?], then Downsample
//   middle_block.{0,1,2}        ResBlock, attention, ResBlock
//   output_blocks.N.{0,1,2}     per level, mirrored: num_res_blocks + 1 x [ResBlock on the
//                               concatenated skip, attention?], Upsample at the level's end
//   out.{0,2}                   GroupNorm, SiLU, conv (zero-initialised)
import { SiLU } from '../../nn/activation.js';
import { ModuleList, Sequential } from '../../nn/container.js';
import { Conv2d } from '../../nn/conv.js';
import { Embedding } from '../../nn/embedding.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { concat } from '../../tensor/ops/shape-ops.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { AttentionBlock } from './attention-block.js';
import { attentionLayout, resolveUNetConfig, type UNetConfig, type UNetConfigInput } from './config.js';
import { normalization, zeroModule } from './layers.js';
import { Downsample, Upsample } from './resample.js';
import { ResBlock } from './resblock.js';
import { SpatialTransformer } from './spatial-transformer.js';
import { timestepEmbedding } from './timestep-embedding.js';
import { TimestepEmbedSequential } from './timestep-sequential.js';

/** What the U-Net is conditioned on besides the timestep. */
export interface UNetConditioning {
  /** Cross-attention context [N, L, context_dim] (models with spatial transformers). */
  context?: Tensor;
  /** Class labels [N], integer-valued (models with num_classes, and only those). */
  y?: Tensor;
}

export class UNetModel extends Module {
  readonly config: UNetConfig;
  readonly timeEmbedDim: number;
  readonly timeEmbed: Sequential;
  readonly labelEmb: Embedding | null;
  readonly inputBlocks: ModuleList<TimestepEmbedSequential>;
  readonly middleBlock: TimestepEmbedSequential;
  readonly outputBlocks: ModuleList<TimestepEmbedSequential>;
  readonly out: Sequential;

  constructor(config: UNetConfigInput, generator?: Generator) {
    super();
    this.config = resolveUNetConfig(config);
    const c = this.config;
    const mc = c.model_channels;
    const embDim = 4 * mc;
    this.timeEmbedDim = embDim;
    const resBlock = (channels: number, outChannels: number, updown: { up?: boolean; down?: boolean } = {}) =>
      new ResBlock(channels, embDim, {
        outChannels,
        dropout: c.dropout,
        useScaleShiftNorm: c.use_scale_shift_norm,
        generator,
        ...updown,
      });
    const attention = (channels: number, outputBlock: boolean) => {
      const { heads, headChannels } = attentionLayout(c, channels, outputBlock);
      return c.use_spatial_transformer
        ? new SpatialTransformer(channels, {
            heads,
            headChannels,
            depth: c.transformer_depth,
            contextDim: c.context_dim ?? undefined,
            generator,
          })
        : new AttentionBlock(channels, { heads, useNewAttentionOrder: c.use_new_attention_order, generator });
    };

    this.timeEmbed = this.registerModule(
      'time_embed',
      new Sequential(new Linear(mc, embDim, { generator }), new SiLU(), new Linear(embDim, embDim, { generator })),
    );
    this.labelEmb =
      c.num_classes === null
        ? null
        : this.registerModule('label_emb', new Embedding(c.num_classes, embDim, { generator }));

    this.inputBlocks = this.registerModule('input_blocks', new ModuleList<TimestepEmbedSequential>());
    this.inputBlocks.append(new TimestepEmbedSequential(new Conv2d(c.in_channels, mc, 3, { padding: 1, generator })));
    const skipChannels = [mc];
    let ch = mc;
    let factor = 1; // the downsampling factor ("ds") of the current level
    c.channel_mult.forEach((mult, level) => {
      for (let i = 0; i < c.num_res_blocks; i++) {
        const block = new TimestepEmbedSequential(resBlock(ch, mult * mc));
        ch = mult * mc;
        if (c.attention_resolutions.includes(factor)) block.append(attention(ch, false));
        this.inputBlocks.append(block);
        skipChannels.push(ch);
      }
      if (level !== c.channel_mult.length - 1) {
        this.inputBlocks.append(
          new TimestepEmbedSequential(
            c.resblock_updown
              ? resBlock(ch, ch, { down: true })
              : new Downsample(ch, { useConv: c.conv_resample, generator }),
          ),
        );
        skipChannels.push(ch);
        factor *= 2;
      }
    });

    this.middleBlock = this.registerModule(
      'middle_block',
      new TimestepEmbedSequential(resBlock(ch, ch), attention(ch, false), resBlock(ch, ch)),
    );

    this.outputBlocks = this.registerModule('output_blocks', new ModuleList<TimestepEmbedSequential>());
    for (let level = c.channel_mult.length - 1; level >= 0; level--) {
      const width = c.channel_mult[level] * mc;
      for (let i = 0; i <= c.num_res_blocks; i++) {
        const skip = skipChannels.pop() as number;
        const block = new TimestepEmbedSequential(resBlock(ch + skip, width));
        ch = width;
        if (c.attention_resolutions.includes(factor)) block.append(attention(ch, true));
        if (level > 0 && i === c.num_res_blocks) {
          block.append(
            c.resblock_updown
              ? resBlock(ch, ch, { up: true })
              : new Upsample(ch, { useConv: c.conv_resample, generator }),
          );
          factor /= 2;
        }
        this.outputBlocks.append(block);
      }
    }

    this.out = this.registerModule(
      'out',
      new Sequential(
        normalization(ch),
        new SiLU(),
        zeroModule(new Conv2d(mc, c.out_channels, 3, { padding: 1, generator })),
      ),
    );
  }

  /** The factor by which the U-Net downsamples: inputs' H and W must be multiples of it. */
  get downsamplingFactor(): number {
    return 2 ** (this.config.channel_mult.length - 1);
  }

  /**
   * The prediction (eps, x0 or v, as trained) for noisy inputs x [N, in_channels, H, W] at
   * timesteps [N]; returns [N, out_channels, H, W].
   */
  forward(x: Tensor, timesteps: Tensor, cond: UNetConditioning = {}): Tensor {
    this.#checkInputs(x, timesteps, cond);
    let emb = this.timeEmbed.forward(timestepEmbedding(timesteps, this.config.model_channels)); // [N, 4mc]
    if (this.labelEmb !== null && cond.y !== undefined) emb = emb.add(this.labelEmb.forward(cond.y));
    const skips: Tensor[] = [];
    let h = x;
    for (const block of this.inputBlocks) {
      h = block.forward(h, emb, cond.context);
      skips.push(h);
    }
    h = this.middleBlock.forward(h, emb, cond.context);
    for (const block of this.outputBlocks) {
      h = block.forward(concat([h, skips.pop() as Tensor], 1), emb, cond.context);
    }
    return this.out.forward(h);
  }

  #checkInputs(x: Tensor, timesteps: Tensor, { context, y }: UNetConditioning): void {
    const c = this.config;
    const f = this.downsamplingFactor;
    if (x.rank !== 4 || x.shape[1] !== c.in_channels || x.shape[2] % f !== 0 || x.shape[3] % f !== 0) {
      throw new Error(
        `UNetModel: expected x [N, ${c.in_channels}, H, W] with H and W multiples of ${f}, got ${formatShape(x.shape)}`,
      );
    }
    const n = x.shape[0];
    if (timesteps.rank !== 1 || timesteps.shape[0] !== n) {
      throw new Error(
        `UNetModel: expected timesteps [${n}] for x ${formatShape(x.shape)}, got ${formatShape(timesteps.shape)}`,
      );
    }
    if (c.num_classes === null && y !== undefined) {
      throw new Error('UNetModel: class labels y were given, but the model has no num_classes (label_emb)');
    }
    if (c.num_classes !== null) {
      if (y === undefined)
        throw new Error(`UNetModel: the model is class-conditional (num_classes ${c.num_classes}); pass y`);
      if (y.rank !== 1 || y.shape[0] !== n) {
        throw new Error(`UNetModel: expected class labels y [${n}], got ${formatShape(y.shape)}`);
      }
      const bad = y.data.findIndex(
        (label) => !Number.isInteger(label) || label < 0 || label >= (c.num_classes as number),
      );
      if (bad !== -1) {
        throw new Error(`UNetModel: class label ${y.data[bad]} at ${bad} is not an integer in [0, ${c.num_classes})`);
      }
    }
    if (context !== undefined) {
      if (!c.use_spatial_transformer) {
        throw new Error('UNetModel: a context was given, but the model has no spatial transformers (context_dim)');
      }
      if (context.rank !== 3 || context.shape[0] !== n || context.shape[2] !== c.context_dim) {
        throw new Error(`UNetModel: expected context [${n}, L, ${c.context_dim}], got ${formatShape(context.shape)}`);
      }
    }
  }
}
