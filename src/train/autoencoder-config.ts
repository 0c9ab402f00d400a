// Where a first-stage training run's config comes from (a file or a shipped preset), how it is
// stored in a checkpoint (as the CompVis-layout object, so that it reads back through the same
// checks), and the learning rate it implies.
import * as fs from 'node:fs';
import { readCompVisConfig, type ConfigObject } from '../io/config.js';
import {
  loadAutoencoderConfig,
  readAutoencoderConfig,
  type AutoencoderTrainingConfig,
} from '../models/autoencoder/config.js';
import { autoencoderPresetNames, autoencoderPresetPath } from '../models/autoencoder/presets.js';

/** A config file (YAML or JSON, CompVis layout), or the name of a shipped preset such as "cpu/kl-f4-32px-1ch". */
export function resolveAutoencoderConfig(fileOrPreset: string): AutoencoderTrainingConfig {
  if (fs.existsSync(fileOrPreset)) return loadAutoencoderConfig(fileOrPreset);
  const presets = autoencoderPresetNames();
  if (presets.includes(fileOrPreset)) return loadAutoencoderConfig(autoencoderPresetPath(fileOrPreset));
  throw new Error(`config "${fileOrPreset}" is neither a file nor a preset (presets: ${presets.join(', ')})`);
}

/** The config as a plain CompVis-layout object (JSON-safe), as it is stored in checkpoints. */
export function autoencoderConfigToObject(config: AutoencoderTrainingConfig): ConfigObject {
  const { model, data, lightning } = config.file;
  const out: ConfigObject = {
    model: { base_learning_rate: model.base_learning_rate, target: model.target, params: model.params },
  };
  if (data !== null) out.data = { target: data.target, params: { ...data.params } };
  if (lightning !== null) out.lightning = lightning;
  return structuredClone(out);
}

/** Reads a stored config back, with every check a config file gets; `source` names it in errors. */
export function autoencoderConfigFromObject(raw: ConfigObject, source: string): AutoencoderTrainingConfig {
  return readAutoencoderConfig(readCompVisConfig(raw, source));
}

/**
 * The learning rate a run uses unless given: base_learning_rate x batch size x accumulated
 * batches, as the original's main.py scales it (x GPUs there, 1 here).
 */
export function scaledLearningRate(baseLearningRate: number, batchSize: number, accumulate = 1): number {
  return baseLearningRate * batchSize * accumulate;
}
