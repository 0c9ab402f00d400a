// The U-Net's configuration: the arguments of CompVis' `openaimodel.UNetModel`, keys in
// snake_case exactly as in `model.params.unet_config.params` of the original YAML files, so
// a config reads the same in YAML and in TypeScript.
import { ConfigError, childPlace, readSection, type ConfigPlace, type FieldKinds } from '../../io/config.js';

export interface UNetConfig {
  /** Accepted for compatibility and ignored: the U-Net is fully convolutional. */
  image_size: number | null;
  in_channels: number;
  out_channels: number;
  /** Base width; level i has model_channels * channel_mult[i] channels. */
  model_channels: number;
  num_res_blocks: number;
  /** Downsampling factors (1, 2, 4, ...) of the levels that get attention, not pixel sizes. */
  attention_resolutions: number[];
  dropout: number;
  /** One entry per level; the first must be 1 (CompVis' output conv takes model_channels). */
  channel_mult: number[];
  /** Down/Upsample with a 3x3 conv (true) or plain 2x2 average pooling / nearest x2 (false). */
  conv_resample: boolean;
  /** Only 2 (images) is supported. */
  dims: number;
  /** ADM class conditioning: `label_emb` added to the time embedding. */
  num_classes: number | null;
  /** Accepted, ignored (gradient checkpointing). */
  use_checkpoint: boolean;
  /** Accepted, ignored: weights and activations are float32. */
  use_fp16: boolean;
  /** Heads per attention layer, or -1 when num_head_channels sets them. */
  num_heads: number;
  /** Channels per head (heads = channels / num_head_channels), or -1 to use num_heads. */
  num_head_channels: number;
  /** Heads of the output blocks' AttentionBlocks (legacy, num_head_channels -1); -1 means num_heads. */
  num_heads_upsample: number;
  /** FiLM-like conditioning in ResBlocks: GN(h) * (1 + scale) + shift instead of h + emb. */
  use_scale_shift_norm: boolean;
  /** Resample with ResBlocks (up/down) instead of Upsample/Downsample layers. */
  resblock_updown: boolean;
  /** AttentionBlock head layout: chunk q, k, v first (true) or per-head [q, k, v] (false, legacy). */
  use_new_attention_order: boolean;
  /** SpatialTransformer (self + cross-attention) instead of AttentionBlock at attention levels. */
  use_spatial_transformer: boolean;
  transformer_depth: number;
  /** Width of the cross-attention context; required with use_spatial_transformer. */
  context_dim: number | null;
  /** Codebook-id prediction head: not supported (must be null). */
  n_embed: number | null;
  /** CompVis' head-size rule (see attentionLayout). */
  legacy: boolean;
}

/** The keys without a CompVis default. */
export const UNET_REQUIRED_KEYS = [
  'in_channels',
  'out_channels',
  'model_channels',
  'num_res_blocks',
  'attention_resolutions',
] as const;

type RequiredKey = (typeof UNET_REQUIRED_KEYS)[number];

/** A config as a TypeScript caller writes it: the required keys, any others (CompVis defaults fill the rest). */
export type UNetConfigInput = Pick<UNetConfig, RequiredKey> & Partial<Omit<UNetConfig, RequiredKey>>;

/** CompVis' defaults for the optional keys. */
export const UNET_CONFIG_DEFAULTS: Omit<UNetConfig, RequiredKey> = {
  image_size: null,
  dropout: 0,
  channel_mult: [1, 2, 4, 8],
  conv_resample: true,
  dims: 2,
  num_classes: null,
  use_checkpoint: false,
  use_fp16: false,
  num_heads: -1,
  num_head_channels: -1,
  num_heads_upsample: -1,
  use_scale_shift_norm: false,
  resblock_updown: false,
  use_new_attention_order: false,
  use_spatial_transformer: false,
  transformer_depth: 1,
  context_dim: null,
  n_embed: null,
  legacy: true,
};

const UNET_CONFIG_KINDS: FieldKinds<UNetConfig> = {
  image_size: 'integer?',
  in_channels: 'integer',
  out_channels: 'integer',
  model_channels: 'integer',
  num_res_blocks: 'integer',
  attention_resolutions: 'integer[]',
  dropout: 'number',
  channel_mult: 'integer[]',
  conv_resample: 'boolean',
  dims: 'integer',
  num_classes: 'integer?',
  use_checkpoint: 'boolean',
  use_fp16: 'boolean',
  num_heads: 'integer',
  num_head_channels: 'integer',
  num_heads_upsample: 'integer',
  use_scale_shift_norm: 'boolean',
  resblock_updown: 'boolean',
  use_new_attention_order: 'boolean',
  use_spatial_transformer: 'boolean',
  transformer_depth: 'integer',
  context_dim: 'integer?',
  n_embed: 'integer?',
  legacy: 'boolean',
};

/** Where attention sits at one width: heads and channels per head. */
export interface AttentionLayout {
  heads: number;
  headChannels: number;
}

/**
 * Heads and head width of the attention layer at `channels`, by CompVis' rule: with
 * num_head_channels set, heads = channels / num_head_channels; else num_heads (the output
 * blocks' AttentionBlocks take num_heads_upsample). With `legacy`, a SpatialTransformer's head
 * width is channels / heads, and an AttentionBlock gets num_head_channels as given.
 */
export function attentionLayout(config: UNetConfig, channels: number, outputBlock: boolean): AttentionLayout {
  const { num_head_channels: headChannelsSetting, use_spatial_transformer: spatial } = config;
  let heads = config.num_heads;
  let headChannels: number;
  if (headChannelsSetting === -1) {
    headChannels = Math.floor(channels / heads);
  } else {
    heads = Math.floor(channels / headChannelsSetting);
    headChannels = headChannelsSetting;
  }
  if (config.legacy) headChannels = spatial ? Math.floor(channels / heads) : headChannelsSetting;
  if (spatial) return { heads, headChannels };
  // AttentionBlock(channels, num_heads, num_head_channels = headChannels): a given head width wins.
  if (headChannels !== -1) return { heads: channels / headChannels, headChannels };
  const blockHeads = outputBlock && config.num_heads_upsample !== -1 ? config.num_heads_upsample : config.num_heads;
  return { heads: blockHeads, headChannels: channels / blockHeads };
}

/** The width of each level: model_channels * channel_mult[i]. */
export function levelChannels(config: UNetConfig): number[] {
  return config.channel_mult.map((mult) => config.model_channels * mult);
}

/** The first problem with a complete config, as [key, message], or null. */
function findProblem(config: UNetConfig): [keyof UNetConfig, string] | null {
  const positive: (keyof UNetConfig)[] = [
    'in_channels',
    'out_channels',
    'model_channels',
    'num_res_blocks',
    'transformer_depth',
  ];
  for (const key of positive) {
    const value = config[key] as number;
    if (!Number.isInteger(value) || value < 1) return [key, `must be a positive integer, got ${value}`];
  }
  if (config.channel_mult.length === 0) return ['channel_mult', 'must list at least one level'];
  if (config.channel_mult.some((m) => !Number.isInteger(m) || m < 1))
    return ['channel_mult', `entries must be positive integers, got [${config.channel_mult.join(', ')}]`];
  if (config.channel_mult[0] !== 1)
    return [
      'channel_mult',
      `must start with 1 (CompVis' output conv takes model_channels), got ${config.channel_mult[0]}`,
    ];
  const widths = levelChannels(config);
  const bad = widths.findIndex((c) => c % 32 !== 0);
  if (bad !== -1) {
    return [
      'model_channels',
      `model_channels * channel_mult[${bad}] = ${widths[bad]} is not a multiple of 32 (GroupNorm uses 32 groups)`,
    ];
  }
  if (config.attention_resolutions.some((r) => !Number.isInteger(r) || r < 1))
    return [
      'attention_resolutions',
      `entries must be downsampling factors (1, 2, 4, ...), got [${config.attention_resolutions.join(', ')}]`,
    ];
  if (!(config.dropout >= 0 && config.dropout < 1)) return ['dropout', `must be in [0, 1), got ${config.dropout}`];
  if (config.dims !== 2) return ['dims', `only 2-D U-Nets are supported, got ${config.dims}`];
  if (config.n_embed !== null) return ['n_embed', 'the codebook-id prediction head is not supported; leave it null'];
  if (config.num_classes !== null && !(Number.isInteger(config.num_classes) && config.num_classes >= 1))
    return ['num_classes', `must be a positive integer or null, got ${config.num_classes}`];
  for (const key of ['num_heads', 'num_head_channels', 'num_heads_upsample'] as const) {
    const value = config[key];
    if (!Number.isInteger(value) || (value !== -1 && value < 1))
      return [key, `must be a positive integer or -1 (unset), got ${value}`];
  }
  if (config.num_heads === -1 && config.num_head_channels === -1)
    return ['num_heads', 'either num_heads or num_head_channels has to be set'];
  if (config.use_spatial_transformer && config.context_dim === null)
    return ['context_dim', 'use_spatial_transformer needs context_dim (the width of the cross-attention context)'];
  if (config.context_dim !== null && !config.use_spatial_transformer)
    return ['use_spatial_transformer', 'context_dim is set, so use_spatial_transformer must be true'];
  if (config.context_dim !== null && !(Number.isInteger(config.context_dim) && config.context_dim >= 1))
    return ['context_dim', `must be a positive integer, got ${config.context_dim}`];
  return attentionProblem(config, widths);
}

/** Checks every width that gets attention: at least one head of at least one channel, heads that divide it. */
function attentionProblem(config: UNetConfig, widths: number[]): [keyof UNetConfig, string] | null {
  const key: keyof UNetConfig = config.num_head_channels !== -1 ? 'num_head_channels' : 'num_heads';
  const attended = widths.filter((_, level) => config.attention_resolutions.includes(2 ** level));
  const cases: [number, boolean][] = [
    ...attended.flatMap((c): [number, boolean][] => [
      [c, false],
      [c, true],
    ]),
    [widths[widths.length - 1], false], // the middle block always has attention
  ];
  for (const [channels, outputBlock] of cases) {
    const { heads, headChannels } = attentionLayout(config, channels, outputBlock);
    const ok = config.use_spatial_transformer
      ? heads >= 1 && headChannels >= 1
      : Number.isInteger(heads) && heads >= 1 && channels % heads === 0;
    if (!ok) {
      const where = outputBlock ? 'an output block' : 'an input or middle block';
      return [
        key,
        `gives ${heads} heads of ${headChannels} channels for the ${channels}-channel attention in ${where}`,
      ];
    }
  }
  return null;
}

/** Fills CompVis' defaults and checks the config; errors name the key. */
export function resolveUNetConfig(input: UNetConfigInput): UNetConfig {
  for (const key of UNET_REQUIRED_KEYS) {
    if (input[key] === undefined) throw new Error(`UNetModel: config key "${key}" is required`);
  }
  const config: UNetConfig = { ...UNET_CONFIG_DEFAULTS, ...input };
  const problem = findProblem(config);
  if (problem !== null) throw new Error(`UNetModel: config key "${problem[0]}" ${problem[1]}`);
  return config;
}

/**
 * Reads the `params` of a U-Net node (`model.params.unet_config.params` in a CompVis file):
 * unknown keys, missing required keys, wrong kinds and impossible architectures are
 * ConfigErrors naming the key and `source` (`path` says where the params sit in it).
 */
export function unetConfigFromParams(raw: Record<string, unknown>, source: string, path = ''): UNetConfig {
  const place: ConfigPlace = { source, path };
  // A key set to undefined (from TypeScript; YAML has none) counts as absent.
  const params = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined));
  if (Array.isArray(params.context_dim))
    throw new ConfigError(childPlace(place, 'context_dim'), 'per-level context_dim lists are not supported');
  for (const key of UNET_REQUIRED_KEYS) {
    if (params[key] === undefined) throw new ConfigError(place, `missing required key "${key}"`);
  }
  // The required keys are present (checked above), so these placeholders are always overwritten.
  const defaults: UNetConfig = {
    in_channels: 0,
    out_channels: 0,
    model_channels: 0,
    num_res_blocks: 0,
    attention_resolutions: [],
    ...UNET_CONFIG_DEFAULTS,
  };
  const config = readSection(params, defaults, UNET_CONFIG_KINDS, place);
  const problem = findProblem(config);
  if (problem !== null) throw new ConfigError(childPlace(place, problem[0]), problem[1]);
  return config;
}
