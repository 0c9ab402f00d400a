// Building a latent diffusion model from its config and reading and writing its weights. Our
// files and the CompVis ones share the key layout (`model.diffusion_model.*`,
// `first_stage_model.*`, `cond_stage_model.*`, `scale_factor`); the schedule buffers the original
// also stores (`betas`, `alphas_cumprod`, ...) are recomputed from the config and only checked.
import * as fs from 'node:fs';
import { readCompVisConfig, type ConfigObject } from '../../io/config.js';
import { readSafetensors, readSafetensorsMetadata, type TensorRecord } from '../../io/safetensors.js';
import type { StateDictInput, TensorData } from '../../nn/module.js';
import type { Generator } from '../../tensor/random.js';
import { autoencoderFromConfig } from '../autoencoder/checkpoint.js';
import { IdentityFirstStage } from '../autoencoder/identity-first-stage.js';
import type { TextTokenizer, TokenizerJSON } from '../encoders/tokenizer.js';
import { WordPieceTokenizer } from '../encoders/wordpiece-tokenizer.js';
import { readLdmConfig, type LdmConfig, type LdmTrainingConfig } from './config.js';
import { LatentDiffusion, type FirstStage } from './latent-diffusion.js';

/** Buffers of the original's register_schedule: recomputed here, so skipped on load. */
const SCHEDULE_BUFFERS = new Set([
  'betas',
  'alphas_cumprod',
  'alphas_cumprod_prev',
  'sqrt_alphas_cumprod',
  'sqrt_one_minus_alphas_cumprod',
  'log_one_minus_alphas_cumprod',
  'sqrt_recip_alphas_cumprod',
  'sqrt_recipm1_alphas_cumprod',
  'posterior_variance',
  'posterior_log_variance_clipped',
  'posterior_mean_coef1',
  'posterior_mean_coef2',
  'lvlb_weights',
  'logvar',
  'model_ema.decay',
  'model_ema.num_updates',
]);

/** Builds the model a config describes; the first stage from `firstStage`, or else from the config's first_stage_config. */
export function ldmFromConfig(config: LdmConfig, firstStage?: FirstStage, generator?: Generator): LatentDiffusion {
  let stage = firstStage;
  if (stage === undefined) {
    if (config.firstStage === null) {
      throw new Error('ldmFromConfig: the config has no first_stage_config; give the first-stage model');
    }
    stage =
      config.firstStage === 'identity'
        ? new IdentityFirstStage(config.params.channels, config.params.image_size)
        : autoencoderFromConfig(config.firstStage, generator);
  }
  return new LatentDiffusion(config, stage, generator);
}

/** The model's weights under CompVis names, with `scale_factor`. */
export function ldmStateDict(ldm: LatentDiffusion): Map<string, TensorRecord> {
  const out = new Map<string, TensorRecord>(ldm.stateDict());
  out.set('scale_factor', { shape: [], data: Float32Array.of(ldm.scaleFactor) });
  return out;
}

export interface LoadLdmOptions {
  /** Take the U-Net from the original's `model_ema.*` keys when the file has them (default false). */
  ema?: boolean;
}

/**
 * Loads LDM weights strictly (every parameter must be given, no unknown key), setting
 * `scale_factor` when present. `model_ema.*` keys (the original's EMA copy, named without dots)
 * are used with `ema`, else ignored.
 */
export function loadLdmStateDict(ldm: LatentDiffusion, stateDict: StateDictInput, options: LoadLdmOptions = {}): void {
  const weights = new Map<string, TensorData>(
    stateDict instanceof Map ? stateDict : Object.entries(stateDict as Record<string, TensorData>),
  );
  const scale = weights.get('scale_factor');
  if (scale !== undefined) {
    if (scale.data.length !== 1) throw new Error(`loadLdmStateDict: scale_factor must hold one value`);
    ldm.scaleFactor = scale.data[0];
  }
  const emaByFlatName = new Map<string, TensorData>();
  const own = new Map<string, TensorData>();
  for (const [key, value] of weights) {
    if (key === 'scale_factor' || SCHEDULE_BUFFERS.has(key)) continue;
    if (key.startsWith('model_ema.')) emaByFlatName.set(key.slice('model_ema.'.length), value);
    else own.set(key, value);
  }
  if (options.ema === true) {
    if (emaByFlatName.size === 0) throw new Error('loadLdmStateDict: ema requested, but there are no model_ema.* keys');
    for (const key of own.keys()) {
      if (!key.startsWith('model.')) continue;
      const flat = key.slice('model.'.length).replaceAll('.', '');
      const value = emaByFlatName.get(flat);
      if (value === undefined) throw new Error(`loadLdmStateDict: model_ema.${flat} (EMA of ${key}) is missing`);
      own.set(key, value);
    }
  }
  ldm.loadStateDict(own);
}

/** The metadata key under which a weights file keeps a text model's tokenizer (JSON). */
export const TOKENIZER_METADATA_KEY = 'tokenizer';

/** What a weights file needs beside its tensors and config: a text model's tokenizer. */
export function ldmWeightsMetadata(ldm: LatentDiffusion): Record<string, string> {
  const tokenizer = ldm.textEncoder?.tokenizer ?? null;
  return tokenizer === null ? {} : { [TOKENIZER_METADATA_KEY]: JSON.stringify(tokenizer.toJSON()) };
}

/** Gives a text model the tokenizer stored in a weights file's metadata, when there is one. */
export function attachStoredTokenizer(ldm: LatentDiffusion, file: string): void {
  const encoder = ldm.textEncoder;
  if (encoder === null) return;
  const stored = readSafetensorsMetadata(file)[TOKENIZER_METADATA_KEY];
  if (stored === undefined) return;
  let json: TokenizerJSON;
  try {
    json = JSON.parse(stored) as TokenizerJSON;
  } catch (err) {
    throw new Error(`${file}: the stored tokenizer is not valid JSON (${(err as Error).message})`);
  }
  if (json.type !== 'wordpiece') throw new Error(`${file}: unknown tokenizer type ${JSON.stringify(json.type)}`);
  encoder.setTokenizer(WordPieceTokenizer.fromJSON(json));
}

export interface LoadedLdm {
  ldm: LatentDiffusion;
  config: LdmTrainingConfig;
  file: string;
}

/** The config stored in one of our weight files, or null. */
export function configOfLdmWeights(file: string): ConfigObject | null {
  const text = readSafetensorsMetadata(file).config;
  return text === undefined ? null : (JSON.parse(text) as ConfigObject);
}

export interface LoadLdmWeightsOptions extends LoadLdmOptions {
  /** The model's config, for files that carry none (e.g. the original CompVis checkpoints). */
  config?: LdmTrainingConfig;
  /** A text model's tokenizer, for files that carry none (e.g. bert-base-uncased's vocab.txt). */
  tokenizer?: TextTokenizer;
}

/**
 * A latent diffusion model in eval mode from a weights file (.safetensors) that carries its
 * config (and a text model's tokenizer), or with them given for files without.
 */
export function loadLdmWeights(file: string, options: LoadLdmWeightsOptions = {}): LoadedLdm {
  if (!fs.existsSync(file)) throw new Error(`model ${file} does not exist`);
  if (!file.endsWith('.safetensors')) {
    throw new Error(`model ${file}: expected a .safetensors file (convert pickled .ckpt files first)`);
  }
  let config = options.config;
  if (config === undefined) {
    const raw = configOfLdmWeights(file);
    if (raw === null) throw new Error(`${file} carries no config; give its config file (CompVis YAML)`);
    config = readLdmConfig(readCompVisConfig(raw, `${file} (stored config)`));
  }
  const ldm = ldmFromConfig(config.model, undefined);
  loadLdmStateDict(ldm, readSafetensors(file), options);
  if (options.tokenizer !== undefined) ldm.textEncoder?.setTokenizer(options.tokenizer);
  else attachStoredTokenizer(ldm, file);
  ldm.eval();
  return { ldm, config, file };
}
