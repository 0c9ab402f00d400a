// Typed configuration of a latent diffusion model in the CompVis layout: `model.target`
// ldm.models.diffusion.ddpm.LatentDiffusion with `unet_config`, `first_stage_config`,
// `cond_stage_config` and the schedule keys under `model.params`, so that the original
// config files load as they are. Keys that only steer the original's Lightning logging are
// accepted and ignored; keys we cannot honour are errors that say so.
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
  type TargetNode,
} from '../../io/config.js';
import { readAutoencoderNode, type AutoencoderConfig } from '../autoencoder/config.js';
import { BERT_EMBEDDER_DEFAULTS, type BertEmbedderParams } from '../encoders/bert-embedder.js';
import { CLASS_EMBEDDER_DEFAULTS, type ClassEmbedderParams } from '../encoders/class-embedder.js';
import { SPATIAL_RESCALER_DEFAULTS, type SpatialRescalerParams } from '../encoders/spatial-rescaler.js';

export type ConditioningKey = 'crossattn' | 'concat' | 'hybrid' | 'adm' | null;
const CONDITIONING_KEYS: readonly string[] = ['crossattn', 'concat', 'hybrid', 'adm'];

/** `model.params` of LatentDiffusion (and of its DDPM base class). */
export interface LdmParams {
  unet_config: ConfigObject;
  first_stage_config: ConfigObject | null;
  cond_stage_config: ConfigObject | string | null;
  timesteps: number;
  beta_schedule: string;
  linear_start: number;
  linear_end: number;
  cosine_s: number;
  given_betas: number[] | null;
  parameterization: string;
  loss_type: string;
  l_simple_weight: number;
  original_elbo_weight: number;
  conditioning_key: string | null;
  cond_stage_key: string;
  cond_stage_trainable: boolean;
  first_stage_key: string;
  scale_factor: number;
  scale_by_std: boolean;
  image_size: number;
  channels: number;
  use_ema: boolean;
  scheduler_config: ConfigObject | null;
  ckpt_path: string | null;
  ignore_keys: string[];
  // Accepted for compatibility, with no effect here (logging, Lightning and sampling details).
  num_timesteps_cond: number | null;
  log_every_t: number;
  clip_denoised: boolean;
  monitor: string | null;
  concat_mode: boolean;
  cond_stage_forward: string | null;
  v_posterior: number;
  learn_logvar: boolean;
  logvar_init: number;
  load_only_unet: boolean;
  use_positional_encodings: boolean;
}

/** The CompVis defaults (ddpm.py), except that `use_ema` there is true as well. */
export const LDM_PARAMS_DEFAULTS: LdmParams = {
  unet_config: {},
  first_stage_config: null,
  cond_stage_config: null,
  timesteps: 1000,
  beta_schedule: 'linear',
  linear_start: 1e-4,
  linear_end: 2e-2,
  cosine_s: 8e-3,
  given_betas: null,
  parameterization: 'eps',
  loss_type: 'l2',
  l_simple_weight: 1,
  original_elbo_weight: 0,
  conditioning_key: null,
  cond_stage_key: 'image',
  cond_stage_trainable: false,
  first_stage_key: 'image',
  scale_factor: 1,
  scale_by_std: false,
  image_size: 256,
  channels: 3,
  use_ema: true,
  scheduler_config: null,
  ckpt_path: null,
  ignore_keys: [],
  num_timesteps_cond: null,
  log_every_t: 100,
  clip_denoised: true,
  monitor: null,
  concat_mode: true,
  cond_stage_forward: null,
  v_posterior: 0,
  learn_logvar: false,
  logvar_init: 0,
  load_only_unet: false,
  use_positional_encodings: false,
};

const LDM_PARAMS_KINDS: FieldKinds<LdmParams> = {
  unet_config: 'object',
  first_stage_config: 'object?',
  cond_stage_config: 'object|string?',
  timesteps: 'integer',
  beta_schedule: 'string',
  linear_start: 'number',
  linear_end: 'number',
  cosine_s: 'number',
  given_betas: 'number[]?',
  parameterization: 'string',
  loss_type: 'string',
  l_simple_weight: 'number',
  original_elbo_weight: 'number',
  conditioning_key: 'string?',
  cond_stage_key: 'string',
  cond_stage_trainable: 'boolean',
  first_stage_key: 'string',
  scale_factor: 'number',
  scale_by_std: 'boolean',
  image_size: 'integer',
  channels: 'integer',
  use_ema: 'boolean',
  scheduler_config: 'object?',
  ckpt_path: 'string?',
  ignore_keys: 'string[]',
  num_timesteps_cond: 'integer?',
  log_every_t: 'integer',
  clip_denoised: 'boolean',
  monitor: 'string?',
  concat_mode: 'boolean',
  cond_stage_forward: 'string?',
  v_posterior: 'number',
  learn_logvar: 'boolean',
  logvar_init: 'number',
  load_only_unet: 'boolean',
  use_positional_encodings: 'boolean',
};

/** What conditions the U-Net. */
export type CondStageConfig =
  | { kind: 'unconditional' }
  /** The first stage's own latents (CompVis `__is_first_stage__`). */
  | { kind: 'first-stage' }
  | { kind: 'class'; target: string; params: ClassEmbedderParams }
  | { kind: 'spatial-rescaler'; target: string; params: SpatialRescalerParams }
  /** A transformer over a trained WordPiece tokenizer's ids (CompVis BERTEmbedder). */
  | { kind: 'text'; target: string; params: BertEmbedderParams };

const CLASS_EMBEDDER_KINDS: FieldKinds<ClassEmbedderParams> = {
  embed_dim: 'integer',
  n_classes: 'integer',
  key: 'string',
  ucg_rate: 'number',
};

const SPATIAL_RESCALER_KINDS: FieldKinds<SpatialRescalerParams> = {
  n_stages: 'integer',
  method: 'string',
  multiplier: 'number',
  in_channels: 'integer',
  out_channels: 'integer?',
  bias: 'boolean',
};

const BERT_EMBEDDER_KINDS: FieldKinds<BertEmbedderParams> = {
  n_embed: 'integer',
  n_layer: 'integer',
  vocab_size: 'integer',
  max_seq_len: 'integer',
  use_tokenizer: 'boolean',
  embedding_dropout: 'number',
  heads: 'integer',
  dim_head: 'integer',
  ucg_rate: 'number',
};

const COND_STAGE_CLASSES: Record<string, 'class' | 'spatial-rescaler' | 'text'> = {
  ClassEmbedder: 'class',
  SpatialRescaler: 'spatial-rescaler',
  BERTEmbedder: 'text',
};

/** A LatentDiffusion model's settings, checked. */
export interface LdmConfig {
  target: string;
  params: LdmParams;
  unet: TargetNode;
  /**
   * Null when the first stage comes from elsewhere (e.g. `ldm train --autoencoder`); 'identity' for
   * a pixel-space model (CompVis IdentityFirstStage).
   */
  firstStage: AutoencoderConfig | 'identity' | null;
  condStage: CondStageConfig;
  conditioningKey: ConditioningKey;
}

const LDM_CLASSES = ['LatentDiffusion'];

/** Reads `model` of an LDM config file: its target and params. */
export function readLdmNode(raw: { target: string; params: ConfigObject }, place: ConfigPlace): LdmConfig {
  const cls = targetClass(raw.target);
  if (!LDM_CLASSES.includes(cls)) {
    const hint =
      cls === 'AutoencoderKL' || cls === 'VQModel'
        ? ' (this is a first-stage autoencoder config: use it with train-autoencoder)'
        : '';
    throw new ConfigError(place, `target "${raw.target}" is not a latent diffusion model${hint}`);
  }
  const paramsPlace = childPlace(place, 'params');
  const params = readSection(raw.params, LDM_PARAMS_DEFAULTS, LDM_PARAMS_KINDS, paramsPlace);
  const at = (key: string): ConfigPlace => childPlace(paramsPlace, key);
  if (!['linear', 'sqrt_linear', 'cosine', 'sqrt'].includes(params.beta_schedule)) {
    throw new ConfigError(
      at('beta_schedule'),
      `unknown schedule "${params.beta_schedule}" (linear, sqrt_linear, cosine, sqrt)`,
    );
  }
  if (!['eps', 'x0', 'v'].includes(params.parameterization)) {
    throw new ConfigError(at('parameterization'), `unknown parameterization "${params.parameterization}" (eps, x0, v)`);
  }
  if (!['l2', 'l1'].includes(params.loss_type))
    throw new ConfigError(at('loss_type'), `unknown loss_type "${params.loss_type}" (l2, l1)`);
  if (params.given_betas !== null)
    throw new ConfigError(at('given_betas'), 'given_betas is not supported; use beta_schedule');
  if (params.original_elbo_weight !== 0)
    throw new ConfigError(at('original_elbo_weight'), 'the VLB term is not supported; set 0');
  if (params.learn_logvar) throw new ConfigError(at('learn_logvar'), 'learn_logvar is not supported');
  if (params.conditioning_key !== null && !CONDITIONING_KEYS.includes(params.conditioning_key)) {
    throw new ConfigError(
      at('conditioning_key'),
      `unknown conditioning_key "${params.conditioning_key}" (${CONDITIONING_KEYS.join(', ')})`,
    );
  }
  const unet = readTargetNode(params.unet_config, at('unet_config'));
  if (targetClass(unet.target) !== 'UNetModel')
    throw new ConfigError(at('unet_config'), `target "${unet.target}" is not a UNetModel`);
  const firstStage = readFirstStage(params.first_stage_config, at('first_stage_config'));
  const condStage = readCondStage(params.cond_stage_config, at('cond_stage_config'));
  const conditioningKey = params.conditioning_key as ConditioningKey;
  if (condStage.kind !== 'unconditional' && conditioningKey === null) {
    throw new ConfigError(
      at('conditioning_key'),
      'a conditioned model needs conditioning_key (crossattn, concat, ...)',
    );
  }
  return { target: raw.target, params, unet, firstStage, condStage, conditioningKey };
}

function readFirstStage(raw: ConfigObject | null, place: ConfigPlace): AutoencoderConfig | 'identity' | null {
  if (raw === null) return null;
  if (typeof raw.target === 'string' && targetClass(raw.target) === 'IdentityFirstStage') return 'identity';
  return readAutoencoderNode(raw, place);
}

function readCondStage(raw: ConfigObject | string | null, place: ConfigPlace): CondStageConfig {
  if (raw === null || raw === '__is_unconditional__') return { kind: 'unconditional' };
  if (raw === '__is_first_stage__') return { kind: 'first-stage' };
  if (typeof raw === 'string') {
    throw new ConfigError(place, `expected a { target, params } mapping or __is_unconditional__, got "${raw}"`);
  }
  const node = readTargetNode(raw, place);
  const kind = COND_STAGE_CLASSES[targetClass(node.target)];
  if (kind === undefined) {
    throw new ConfigError(
      place,
      `conditioning encoder "${node.target}" is not supported (supported: ${Object.keys(COND_STAGE_CLASSES).join(', ')})`,
    );
  }
  const paramsPlace = childPlace(place, 'params');
  if (kind === 'class') {
    const defaults = { embed_dim: 0, ...CLASS_EMBEDDER_DEFAULTS };
    const params = readSection(node.params, defaults, CLASS_EMBEDDER_KINDS, paramsPlace);
    if (params.embed_dim < 1) throw new ConfigError(paramsPlace, 'ClassEmbedder needs embed_dim (a positive integer)');
    return { kind, target: node.target, params };
  }
  if (kind === 'text') {
    const defaults = { n_embed: 0, n_layer: 0, ...BERT_EMBEDDER_DEFAULTS };
    const params = readSection(node.params, defaults, BERT_EMBEDDER_KINDS, paramsPlace);
    if (params.n_embed < 1 || params.n_layer < 1)
      throw new ConfigError(paramsPlace, 'BERTEmbedder needs n_embed and n_layer (positive integers)');
    if (!params.use_tokenizer)
      throw new ConfigError(childPlace(paramsPlace, 'use_tokenizer'), 'only use_tokenizer: true is supported');
    return { kind, target: node.target, params };
  }
  const params = readSection(node.params, SPATIAL_RESCALER_DEFAULTS, SPATIAL_RESCALER_KINDS, paramsPlace);
  return { kind, target: node.target, params };
}

/** A whole LDM config file: the model plus the training settings it carries. */
export interface LdmTrainingConfig {
  source: string;
  model: LdmConfig;
  base_learning_rate: number;
  /** `data.params.batch_size`, or 1 without a data section. */
  batch_size: number;
  file: CompVisConfig;
}

export function readLdmConfig(file: CompVisConfig): LdmTrainingConfig {
  const place: ConfigPlace = { source: file.source, path: 'model' };
  return {
    source: file.source,
    model: readLdmNode({ target: file.model.target, params: file.model.params }, place),
    base_learning_rate: file.model.base_learning_rate,
    batch_size: file.data?.params.batch_size ?? 1,
    file,
  };
}

/** Loads an LDM config file (YAML or JSON, CompVis layout). */
export function loadLdmConfig(path: string): LdmTrainingConfig {
  return readLdmConfig(loadCompVisConfig(path));
}
