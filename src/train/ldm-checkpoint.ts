// What a latent diffusion training checkpoint holds (a directory laid out by checkpoint.ts):
//
//   model.safetensors      the whole LDM under CompVis names (`model.diffusion_model.*`,
//                          `first_stage_model.*`, `cond_stage_model.*`) and `scale_factor`;
//                          metadata: the config (CompVis layout, JSON) and the step. A model on its own.
//   ema.safetensors        (with EMA) the same, with the U-Net's averaged weights: the file to sample
//                          from; metadata also holds the EMA's state.
//   optimizer.safetensors  the AdamW state; metadata: its JSON.
//   trainer.json           step, data-loader position, generator states, settings, config. Written last.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigObject } from '../io/config.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors, type TensorRecord } from '../io/safetensors.js';
import type { LatentDiffusion } from '../models/ldm/latent-diffusion.js';
import {
  ldmStateDict,
  ldmWeightsMetadata,
  loadLdmStateDict,
  TOKENIZER_METADATA_KEY,
} from '../models/ldm/checkpoint.js';
import type { CaptionChoice } from '../data/loader.js';
import type { EMA } from '../optim/ema.js';
import type { BaseHyperParams, Optimizer } from '../optim/optimizer.js';
import { optimizerStateFromTensors, optimizerStateToTensors } from '../optim/state-io.js';
import type { GeneratorState } from '../tensor/random.js';
import { resolveCheckpoint, type CheckpointFile } from './checkpoint.js';
import { readEmaWeights, writeEmaWeights } from './ema-file.js';

export const LDM_MODEL_FILE = 'model.safetensors';
export const LDM_EMA_FILE = 'ema.safetensors';
export const LDM_OPTIMIZER_FILE = 'optimizer.safetensors';
export const LDM_TRAINER_STATE_FILE = 'trainer.json';
export const LDM_TRAINER_FORMAT = 'latent-diffusion.ldm-trainer/1';
export const LDM_WEIGHTS_FORMAT = 'latent-diffusion.ldm/1';
const OPTIMIZER_PREFIX = 'optimizer.';

export interface LdmRunSettings {
  /** The data spec the latents came from. */
  data: string;
  /** The first stage's weights file. */
  autoencoder: string;
  /** The latent cache file. */
  latents: string;
  steps: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  seed: number;
  /** EMA decay, or null without EMA. */
  emaDecay: number | null;
  /** Probability of training a sample with the null condition (classifier-free guidance). */
  conditionDropout: number;
  randomFlip: boolean;
  checkpointEvery: number;
  sampleEvery: number;
  logEvery: number;
  keepCheckpoints: number | null;
  /** How a caption is made from an example's candidates (text models; see DataLoaderOptions). */
  captionChoice: CaptionChoice;
  /** Sampler settings of the preview grids; a text model's prompts (default: captions spread over the data). */
  preview: { sampler: string; steps: number; guidance: number; prompts?: string[] };
}

export interface LdmTrainerState {
  format: typeof LDM_TRAINER_FORMAT;
  step: number;
  epoch: number;
  batch: number;
  generators: Record<string, GeneratorState>;
  settings: LdmRunSettings;
  config: ConfigObject;
  scaleFactor: number;
}

export interface LdmTrainingParts {
  ldm: LatentDiffusion;
  optimizer: Optimizer<BaseHyperParams>;
  ema: EMA | null;
}

export function ldmCheckpointFiles(parts: LdmTrainingParts, state: LdmTrainerState): CheckpointFile[] {
  const metadata = {
    format: LDM_WEIGHTS_FORMAT,
    config: JSON.stringify(state.config),
    step: String(state.step),
    ...ldmWeightsMetadata(parts.ldm),
  };
  const files: CheckpointFile[] = [
    { name: LDM_MODEL_FILE, write: (file) => writeSafetensors(file, ldmStateDict(parts.ldm), metadata) },
    {
      name: LDM_OPTIMIZER_FILE,
      write: (file) => {
        const { tensors, json } = optimizerStateToTensors(parts.optimizer.stateDict(), OPTIMIZER_PREFIX);
        writeSafetensors(file, tensors, { optimizer: json });
      },
    },
  ];
  const { ema } = parts;
  if (ema !== null) {
    files.push({
      name: LDM_EMA_FILE,
      write: (file) => {
        const emaState = ema.stateDict();
        const rest = new Map<string, TensorRecord>(
          [...ldmStateDict(parts.ldm)].filter(([key]) => !(emaState.names ?? []).includes(key)),
        );
        writeEmaWeights(file, emaState, metadata, rest);
      },
    });
  }
  files.push({
    name: LDM_TRAINER_STATE_FILE,
    write: (file) => fs.writeFileSync(file, JSON.stringify(state, null, 2)),
  });
  return files;
}

export function readLdmTrainerState(dir: string): LdmTrainerState {
  const file = path.join(dir, LDM_TRAINER_STATE_FILE);
  let state: LdmTrainerState;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as LdmTrainerState;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (state?.format !== LDM_TRAINER_FORMAT) {
    throw new Error(`${file} is not a latent diffusion trainer state (format ${JSON.stringify(state?.format)})`);
  }
  return state;
}

export function restoreLdmCheckpoint(dir: string, parts: LdmTrainingParts): void {
  loadLdmStateDict(parts.ldm, readSafetensors(path.join(dir, LDM_MODEL_FILE)));
  const optimizerPath = path.join(dir, LDM_OPTIMIZER_FILE);
  const json = readSafetensorsMetadata(optimizerPath).optimizer;
  if (json === undefined) throw new Error(`${optimizerPath}: metadata lacks the optimizer state`);
  parts.optimizer.loadStateDict(optimizerStateFromTensors(readSafetensors(optimizerPath), json, OPTIMIZER_PREFIX));
  if (parts.ema !== null) parts.ema.loadStateDict(readEmaWeights(path.join(dir, LDM_EMA_FILE)));
}

/**
 * The weights file a location names: a .safetensors file as it is, or in a run or checkpoint
 * directory the EMA weights (when kept, unless `weights` is 'trained') or else the trained ones.
 */
export function ldmWeightsFile(location: string, weights: 'auto' | 'ema' | 'trained' = 'auto'): string {
  if (!fs.existsSync(location)) throw new Error(`model ${location} does not exist`);
  if (fs.statSync(location).isFile()) return location;
  const dir = resolveCheckpoint(location, LDM_MODEL_FILE);
  const ema = path.join(dir, LDM_EMA_FILE);
  if (weights === 'ema' && !fs.existsSync(ema)) throw new Error(`${dir} has no EMA weights (${LDM_EMA_FILE})`);
  return weights !== 'trained' && fs.existsSync(ema) ? ema : path.join(dir, LDM_MODEL_FILE);
}

/**
 * Writes the weights a location names (see ldmWeightsFile) as one inference file: every tensor
 * and the config, without training state; `dtype` F16 halves the size. Returns the source file.
 */
export function exportLdmWeights(
  location: string,
  out: string,
  options: { dtype?: 'F32' | 'F16'; weights?: 'auto' | 'ema' | 'trained' } = {},
): string {
  const source = ldmWeightsFile(location, options.weights);
  const { config, step, [TOKENIZER_METADATA_KEY]: tokenizer } = readSafetensorsMetadata(source);
  if (config === undefined)
    throw new Error(`${source} carries no config; it is not a latent diffusion checkpoint of ours`);
  const metadata: Record<string, string> = { format: LDM_WEIGHTS_FORMAT, config, source: path.basename(source) };
  if (step !== undefined) metadata.step = step;
  if (tokenizer !== undefined) metadata[TOKENIZER_METADATA_KEY] = tokenizer;
  writeSafetensors(out, readSafetensors(source), metadata, { dtype: options.dtype ?? 'F32' });
  return source;
}
