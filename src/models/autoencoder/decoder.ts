// The first stage's Decoder: latent [B, z_channels, h, w] -> image [B, out_ch, h * f, w * f].
// `up.{i}` is resolution level i (up.0 at full resolution), as in the checkpoints, but the
// levels run from the lowest resolution up.
import { Conv2d } from '../../nn/conv.js';
import { ModuleList } from '../../nn/container.js';
import { Module } from '../../nn/module.js';
import type { GroupNorm } from '../../nn/normalization.js';
import { silu } from '../../tensor/ops/elementwise.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { AttnBlock, ResnetBlock, Upsample, normalize } from './blocks.js';
import { checkDDConfig, downsamplingFactor } from './check.js';
import type { DDConfig } from './config.js';
import { MidBlock } from './encoder.js';

/** One resolution level: `block.{j}` (num_res_blocks + 1 of them), `attn.{j}`, `upsample`. */
export class DecoderLevel extends Module {
  readonly block = this.registerModule('block', new ModuleList<ResnetBlock>());
  readonly attn = this.registerModule('attn', new ModuleList<AttnBlock>());
  upsample: Upsample | null = null;
}

export class Decoder extends Module {
  readonly convIn: Conv2d;
  readonly mid: MidBlock;
  readonly up: ModuleList<DecoderLevel>;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(
    readonly config: DDConfig,
    generator?: Generator,
  ) {
    super();
    checkDDConfig(config, 'Decoder');
    const { ch, ch_mult: chMult, num_res_blocks: numResBlocks, attn_resolutions: attnResolutions, dropout } = config;
    const levels = chMult.length;
    let channels = ch * chMult[levels - 1];
    let resolution = Math.floor(config.resolution / downsamplingFactor(config));
    this.convIn = this.registerModule('conv_in', new Conv2d(config.z_channels, channels, 3, { padding: 1, generator }));
    this.mid = this.registerModule('mid', new MidBlock(channels, dropout, generator));
    // Built from the lowest resolution up (each level's input width is the one below it),
    // then registered in index order so that up.0 is full resolution.
    const built: DecoderLevel[] = [];
    for (let i = levels - 1; i >= 0; i--) {
      const level = new DecoderLevel();
      for (let j = 0; j < numResBlocks + 1; j++) {
        level.block.append(new ResnetBlock(channels, ch * chMult[i], { dropout, generator }));
        channels = ch * chMult[i];
        if (attnResolutions.includes(resolution)) level.attn.append(new AttnBlock(channels, { generator }));
      }
      if (i !== 0) {
        level.upsample = level.registerModule('upsample', new Upsample(channels, { generator }));
        resolution *= 2;
      }
      built[i] = level;
    }
    this.up = this.registerModule('up', new ModuleList(built));
    this.normOut = this.registerModule('norm_out', normalize(channels));
    this.convOut = this.registerModule('conv_out', new Conv2d(channels, config.out_ch, 3, { padding: 1, generator }));
  }

  forward(z: Tensor): Tensor {
    if (z.rank !== 4 || z.shape[1] !== this.config.z_channels) {
      throw new Error(`Decoder: expected latents [B, ${this.config.z_channels}, h, w], got ${formatShape(z.shape)}`);
    }
    let h = this.mid.forward(this.convIn.forward(z));
    for (let i = this.up.length - 1; i >= 0; i--) {
      const level = this.up.get(i);
      for (let j = 0; j < level.block.length; j++) {
        h = level.block.get(j).forward(h);
        if (level.attn.length > 0) h = level.attn.get(j).forward(h);
      }
      if (level.upsample !== null) h = level.upsample.forward(h);
    }
    return this.convOut.forward(silu(this.normOut.forward(h)));
  }
}
