// The first stage's Encoder: image [B, in_channels, H, W] -> latent moments
// [B, 2 * z_channels (double_z) or z_channels, H / f, W / f], f = 2^(levels - 1).
import { Conv2d } from '../../nn/conv.js';
import { ModuleList } from '../../nn/container.js';
import { Module } from '../../nn/module.js';
import type { GroupNorm } from '../../nn/normalization.js';
import { silu } from '../../tensor/ops/elementwise.js';
import type { Generator } from '../../tensor/random.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { AttnBlock, Downsample, ResnetBlock, normalize } from './blocks.js';
import { checkDDConfig } from './check.js';
import type { DDConfig } from './config.js';

/** One resolution level: `block.{j}`, `attn.{j}` (where attention applies), `downsample`. */
export class EncoderLevel extends Module {
  readonly block = this.registerModule('block', new ModuleList<ResnetBlock>());
  readonly attn = this.registerModule('attn', new ModuleList<AttnBlock>());
  downsample: Downsample | null = null;
}

/** `mid`: block_1, attn_1, block_2 at the lowest resolution (shared layout with the Decoder). */
export class MidBlock extends Module {
  readonly block1: ResnetBlock;
  readonly attn1: AttnBlock;
  readonly block2: ResnetBlock;

  constructor(channels: number, dropout: number, generator?: Generator) {
    super();
    this.block1 = this.registerModule('block_1', new ResnetBlock(channels, channels, { dropout, generator }));
    this.attn1 = this.registerModule('attn_1', new AttnBlock(channels, { generator }));
    this.block2 = this.registerModule('block_2', new ResnetBlock(channels, channels, { dropout, generator }));
  }

  forward(x: Tensor): Tensor {
    return this.block2.forward(this.attn1.forward(this.block1.forward(x)));
  }
}

export class Encoder extends Module {
  readonly convIn: Conv2d;
  readonly down: ModuleList<EncoderLevel>;
  readonly mid: MidBlock;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(
    readonly config: DDConfig,
    generator?: Generator,
  ) {
    super();
    checkDDConfig(config, 'Encoder');
    const { ch, ch_mult: chMult, num_res_blocks: numResBlocks, attn_resolutions: attnResolutions, dropout } = config;
    this.convIn = this.registerModule('conv_in', new Conv2d(config.in_channels, ch, 3, { padding: 1, generator }));
    this.down = this.registerModule('down', new ModuleList<EncoderLevel>());
    let resolution = config.resolution;
    let channels = ch;
    chMult.forEach((mult, i) => {
      const level = new EncoderLevel();
      for (let j = 0; j < numResBlocks; j++) {
        level.block.append(new ResnetBlock(channels, ch * mult, { dropout, generator }));
        channels = ch * mult;
        if (attnResolutions.includes(resolution)) level.attn.append(new AttnBlock(channels, { generator }));
      }
      if (i !== chMult.length - 1) {
        level.downsample = level.registerModule('downsample', new Downsample(channels, { generator }));
        resolution = Math.floor(resolution / 2);
      }
      this.down.append(level);
    });
    this.mid = this.registerModule('mid', new MidBlock(channels, dropout, generator));
    this.normOut = this.registerModule('norm_out', normalize(channels));
    const outChannels = config.double_z ? 2 * config.z_channels : config.z_channels;
    this.convOut = this.registerModule('conv_out', new Conv2d(channels, outChannels, 3, { padding: 1, generator }));
  }

  forward(x: Tensor): Tensor {
    const { in_channels: inChannels, ch_mult: chMult } = this.config;
    const factor = 2 ** (chMult.length - 1);
    if (x.rank !== 4 || x.shape[1] !== inChannels || x.shape[2] % factor !== 0 || x.shape[3] % factor !== 0) {
      throw new Error(
        `Encoder: expected images [B, ${inChannels}, H, W] with H and W multiples of ${factor}, got ${formatShape(x.shape)}`,
      );
    }
    let h = this.convIn.forward(x);
    for (const level of this.down) {
      for (let j = 0; j < level.block.length; j++) {
        h = level.block.get(j).forward(h);
        if (level.attn.length > 0) h = level.attn.get(j).forward(h);
      }
      if (level.downsample !== null) h = level.downsample.forward(h);
    }
    h = this.mid.forward(h);
    return this.convOut.forward(silu(this.normOut.forward(h)));
  }
}
