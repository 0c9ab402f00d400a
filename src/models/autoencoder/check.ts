// Architecture checks shared by the Encoder and Decoder, so that a bad config fails when the
// model is built, naming the setting, instead of inside a kernel.
import type { DDConfig } from './config.js';

export function checkDDConfig(config: DDConfig, model: string): void {
  const positive = (value: number, name: string): void => {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`${model}: ${name} must be a positive integer, got ${value}`);
  };
  positive(config.ch, 'ch');
  positive(config.in_channels, 'in_channels');
  positive(config.out_ch, 'out_ch');
  positive(config.z_channels, 'z_channels');
  positive(config.num_res_blocks, 'num_res_blocks');
  positive(config.resolution, 'resolution');
  if (config.ch_mult.length === 0) throw new Error(`${model}: ch_mult must list at least one level`);
  for (const mult of config.ch_mult) positive(mult, 'each ch_mult entry');
  // GroupNorm uses 32 groups at every width, the first level's included.
  if (config.ch % 32 !== 0)
    throw new Error(`${model}: ch must be a multiple of 32 (GroupNorm groups), got ${config.ch}`);
  if (!(config.dropout >= 0 && config.dropout < 1))
    throw new Error(`${model}: dropout must be in [0, 1), got ${config.dropout}`);
}

/** The downsampling factor f = 2^(levels - 1). */
export function downsamplingFactor(config: DDConfig): number {
  return 2 ** (config.ch_mult.length - 1);
}
