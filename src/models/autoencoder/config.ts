// Typed configuration of the first-stage autoencoders, in the CompVis layout (keys as in the
// original YAML files: `model.params.ddconfig.ch_mult`, `model.params.lossconfig.params.kl_weight`).
import {
  ConfigError,
  childPlace,
  loadCompVisConfig,
  readSection,
  readTargetNode,
  targetClass,
  type CompVisConfig,
  type ConfigObject,
  type ConfigPlace,
  type FieldKinds,
} from '../../io/config.js';

/** The Encoder/Decoder architecture (`ddconfig`). */
export interface DDConfig {
  /** Encoder output of 2 * z_channels (mean and log-variance) for the KL model. */
  double_z: boolean;
  z_channels: number;
  /** Input side in pixels; with attn_resolutions it decides where attention blocks go. */
  resolution: number;
  in_channels: number;
  out_ch: number;
  /** Base channel count; level i has ch * ch_mult[i] channels (multiples of 32 for GroupNorm). */
  ch: number;
  /** One entry per resolution level; the downsampling factor is 2^(levels - 1). */
  ch_mult: number[];
  num_res_blocks: number;
  /** Resolutions (in pixels, e.g. 16) whose levels get attention blocks. */
  attn_resolutions: number[];
  dropout: number;
}

/** kl-f8 of the paper (ch 128, ch_mult [1, 2, 4, 4], z 4 at 256 px). */
export const DDCONFIG_DEFAULTS: DDConfig = {
  double_z: true,
  z_channels: 4,
  resolution: 256,
  in_channels: 3,
  out_ch: 3,
  ch: 128,
  ch_mult: [1, 2, 4, 4],
  num_res_blocks: 2,
  attn_resolutions: [],
  dropout: 0,
};

const DDCONFIG_KINDS: FieldKinds<DDConfig> = {
  double_z: 'boolean',
  z_channels: 'integer',
  resolution: 'integer',
  in_channels: 'integer',
  out_ch: 'integer',
  ch: 'integer',
  ch_mult: 'integer[]',
  num_res_blocks: 'integer',
  attn_resolutions: 'integer[]',
  dropout: 'number',
};

/**
 * The training loss's settings (`lossconfig.params`): the union of LPIPSWithDiscriminator's
 * (KL) and VQLPIPSWithDiscriminator's (VQ) arguments; keys of the other family are rejected.
 */
export interface LossParams {
  disc_start: number;
  logvar_init: number;
  kl_weight: number;
  codebook_weight: number;
  pixelloss_weight: number;
  perceptual_weight: number;
  disc_num_layers: number;
  disc_in_channels: number;
  disc_ndf: number;
  disc_factor: number;
  disc_weight: number;
  use_actnorm: boolean;
  disc_conditional: boolean;
  disc_loss: string;
  n_classes: number | null;
  /** Ours: `ssim` (default, needs no download), `lpips` (needs perceptual_weights) or `none`. */
  perceptual_loss: string;
  /** Ours: the LPIPS weights file (safetensors), for perceptual_loss lpips. */
  perceptual_weights: string | null;
  pixel_loss: string;
}

/** Published first-stage settings: kl_weight 1e-6, disc_weight 0.5 (the VQ configs use 0.75). */
export const LOSS_PARAMS_DEFAULTS: LossParams = {
  disc_start: 50001,
  logvar_init: 0,
  kl_weight: 1e-6,
  codebook_weight: 1,
  pixelloss_weight: 1,
  perceptual_weight: 1,
  disc_num_layers: 3,
  disc_in_channels: 3,
  disc_ndf: 64,
  disc_factor: 1,
  disc_weight: 0.5,
  use_actnorm: false,
  disc_conditional: false,
  disc_loss: 'hinge',
  n_classes: null,
  perceptual_loss: 'ssim',
  perceptual_weights: null,
  pixel_loss: 'l1',
};

const LOSS_PARAMS_KINDS: FieldKinds<LossParams> = {
  disc_start: 'integer',
  logvar_init: 'number',
  kl_weight: 'number',
  codebook_weight: 'number',
  pixelloss_weight: 'number',
  perceptual_weight: 'number',
  disc_num_layers: 'integer',
  disc_in_channels: 'integer',
  disc_ndf: 'integer',
  disc_factor: 'number',
  disc_weight: 'number',
  use_actnorm: 'boolean',
  disc_conditional: 'boolean',
  disc_loss: 'string',
  n_classes: 'integer?',
  perceptual_loss: 'string',
  perceptual_weights: 'string?',
  pixel_loss: 'string',
};

const KL_ONLY_LOSS_KEYS = ['kl_weight', 'logvar_init'];
const VQ_ONLY_LOSS_KEYS = ['codebook_weight', 'disc_ndf', 'n_classes'];

/**
 * `lossconfig`: which loss (`LPIPSWithDiscriminator`, `VQLPIPSWithDiscriminator`, or
 * `torch.nn.Identity` in configs that only use a trained model) and its settings.
 */
export interface LossConfig {
  target: string;
  params: LossParams;
}

/** `model.params` of AutoencoderKL, VQModel and VQModelInterface. */
export interface AutoencoderParams {
  embed_dim: number;
  /** Codebook size (VQ only). */
  n_embed: number;
  ddconfig: DDConfig;
  lossconfig: LossConfig;
  /** Commitment weight of the quantiser (VQ only; an extension: CompVis fixes it at 0.25). */
  beta: number;
  /** Which term beta weighs (VQ only; an extension: CompVis fixes it at true); see VectorQuantizer. */
  legacy: boolean;
  /** Weights to load after building the model. */
  ckpt_path: string | null;
  ignore_keys: string[];
  image_key: string;
  monitor: string | null;
  colorize_nlabels: number | null;
  /** Accepted for compatibility: indices are always returned as [B, h, w]. */
  sane_index_shape: boolean;
  remap: string | null;
  use_ema: boolean;
}

export const AUTOENCODER_PARAMS_DEFAULTS: AutoencoderParams = {
  embed_dim: 4,
  n_embed: 8192,
  ddconfig: DDCONFIG_DEFAULTS,
  lossconfig: { target: 'torch.nn.Identity', params: LOSS_PARAMS_DEFAULTS },
  beta: 0.25,
  legacy: true,
  ckpt_path: null,
  ignore_keys: [],
  image_key: 'image',
  monitor: null,
  colorize_nlabels: null,
  sane_index_shape: false,
  remap: null,
  use_ema: false,
};

const AUTOENCODER_PARAMS_KINDS: FieldKinds<AutoencoderParams> = {
  embed_dim: 'integer',
  n_embed: 'integer',
  ddconfig: 'object',
  lossconfig: 'object',
  beta: 'number',
  legacy: 'boolean',
  ckpt_path: 'string?',
  ignore_keys: 'string[]',
  image_key: 'string',
  monitor: 'string?',
  colorize_nlabels: 'integer?',
  sane_index_shape: 'boolean',
  remap: 'string?',
  use_ema: 'boolean',
};

const VQ_ONLY_PARAMS = ['n_embed', 'beta', 'legacy', 'sane_index_shape', 'remap', 'use_ema'];

export type AutoencoderKind = 'kl' | 'vq';

/** A first-stage model: `target` as written in the file, and its typed params. */
export interface AutoencoderConfig {
  kind: AutoencoderKind;
  target: string;
  params: AutoencoderParams;
}

const MODEL_CLASSES: Record<string, AutoencoderKind> = { AutoencoderKL: 'kl', VQModel: 'vq', VQModelInterface: 'vq' };
const LOSS_CLASSES: Record<string, AutoencoderKind | 'any'> = {
  LPIPSWithDiscriminator: 'kl',
  VQLPIPSWithDiscriminator: 'vq',
  Identity: 'any',
};

/** Reads a `{ target, params }` node of a first-stage model (a whole config's `model`, or an LDM's `first_stage_config`). */
export function readAutoencoderNode(raw: unknown, place: ConfigPlace): AutoencoderConfig {
  const node = readTargetNode(raw, place);
  const kind = MODEL_CLASSES[targetClass(node.target)];
  if (kind === undefined) {
    throw new ConfigError(
      place,
      `target "${node.target}" is not a first-stage model (expected one of ${Object.keys(MODEL_CLASSES).join(', ')})`,
    );
  }
  const paramsPlace = childPlace(place, 'params');
  rejectKeysOfOtherKind(node.params, kind === 'kl' ? VQ_ONLY_PARAMS : [], kind, paramsPlace);
  const flat = readSection(node.params, AUTOENCODER_PARAMS_DEFAULTS, AUTOENCODER_PARAMS_KINDS, paramsPlace);
  if (flat.remap !== null)
    throw new ConfigError(childPlace(paramsPlace, 'remap'), 'codebook remapping is not supported');
  const params: AutoencoderParams = {
    ...flat,
    ddconfig: readSection(node.params.ddconfig, DDCONFIG_DEFAULTS, DDCONFIG_KINDS, childPlace(paramsPlace, 'ddconfig')),
    lossconfig: readLossConfig(node.params.lossconfig, kind, childPlace(paramsPlace, 'lossconfig')),
  };
  return { kind, target: node.target, params };
}

function readLossConfig(raw: unknown, kind: AutoencoderKind, place: ConfigPlace): LossConfig {
  if (raw === undefined) return { target: 'torch.nn.Identity', params: { ...LOSS_PARAMS_DEFAULTS } };
  const node = readTargetNode(raw, place);
  const lossKind = LOSS_CLASSES[targetClass(node.target)];
  if (lossKind === undefined) {
    throw new ConfigError(
      place,
      `unknown loss target "${node.target}" (expected one of ${Object.keys(LOSS_CLASSES).join(', ')})`,
    );
  }
  if (lossKind !== 'any' && lossKind !== kind) {
    throw new ConfigError(
      place,
      `loss "${node.target}" belongs to ${lossKind.toUpperCase()} models, not to this ${kind.toUpperCase()} model`,
    );
  }
  const paramsPlace = childPlace(place, 'params');
  rejectKeysOfOtherKind(node.params, kind === 'kl' ? VQ_ONLY_LOSS_KEYS : KL_ONLY_LOSS_KEYS, kind, paramsPlace);
  // The VQ configs' discriminator weight, when the file does not give one.
  const defaults = kind === 'vq' ? { ...LOSS_PARAMS_DEFAULTS, disc_weight: 0.75 } : LOSS_PARAMS_DEFAULTS;
  return { target: node.target, params: readSection(node.params, defaults, LOSS_PARAMS_KINDS, paramsPlace) };
}

function rejectKeysOfOtherKind(
  params: ConfigObject,
  keys: readonly string[],
  kind: AutoencoderKind,
  place: ConfigPlace,
): void {
  const wrong = Object.keys(params).find((key) => keys.includes(key));
  if (wrong !== undefined) {
    throw new ConfigError(
      childPlace(place, wrong),
      `"${wrong}" does not apply to ${kind === 'kl' ? 'a KL' : 'a VQ'} autoencoder`,
    );
  }
}

/** A whole first-stage config file: the model plus the training settings it carries. */
export interface AutoencoderTrainingConfig {
  source: string;
  model: AutoencoderConfig;
  base_learning_rate: number;
  /** `data.params.batch_size`, or 1 without a data section. */
  batch_size: number;
  file: CompVisConfig;
}

export function readAutoencoderConfig(file: CompVisConfig): AutoencoderTrainingConfig {
  const place: ConfigPlace = { source: file.source, path: 'model' };
  const model = readAutoencoderNode({ target: file.model.target, params: file.model.params }, place);
  return {
    source: file.source,
    model,
    base_learning_rate: file.model.base_learning_rate,
    batch_size: file.data?.params.batch_size ?? 1,
    file,
  };
}

/** Loads a first-stage config file (YAML or JSON, CompVis layout). */
export function loadAutoencoderConfig(path: string): AutoencoderTrainingConfig {
  return readAutoencoderConfig(loadCompVisConfig(path));
}
