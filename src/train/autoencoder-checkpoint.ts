// What a first-stage training checkpoint holds (a directory laid out by checkpoint.ts):
//
//   model.safetensors       the autoencoder's weights under CompVis names, and the loss's own
//                           state (discriminator, logvar) as `loss.*`, as in CompVis training
//                           checkpoints; metadata: the config (CompVis layout, JSON) and the step.
//                           loadAutoencoderCheckpoint reads it as it is.
//   ema.safetensors         (with EMA) the averaged weights under the model's own names, so that
//                           the file is a model on its own; metadata: the EMA's decay and count.
//   optimizers.safetensors  both Adam states: `optimizer_ae.state.<i>.exp_avg`, ... and
//                           `optimizer_disc.*`; metadata: their JSON (steps, hyper-parameters).
//   trainer.json            step, data-loader position (epoch, batch), generator states, the
//                           run's settings and config, the last held-out metrics. Written last.
//
// Every float is stored exactly (float32 tensors; doubles as JSON numbers), so a resumed run
// continues bit for bit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigObject } from '../io/config.js';
import { readSafetensors, SafetensorsFile, writeSafetensors, type TensorRecord } from '../io/safetensors.js';
import { loadAutoencoderStateDict } from '../models/autoencoder/checkpoint.js';
import type { AutoencoderKL } from '../models/autoencoder/autoencoder-kl.js';
import type { VQModel } from '../models/autoencoder/vq-model.js';
import type { Module } from '../nn/module.js';
import type { EMA } from '../optim/ema.js';
import type { BaseHyperParams, Optimizer } from '../optim/optimizer.js';
import { optimizerStateFromTensors, optimizerStateToTensors } from '../optim/state-io.js';
import type { GeneratorState } from '../tensor/random.js';
import type { ReconstructionMetrics } from './autoencoder-evaluation.js';
import type { CheckpointFile } from './checkpoint.js';
import { readEmaWeights, writeEmaWeights } from './ema-file.js';

export const MODEL_FILE = 'model.safetensors';
export const EMA_FILE = 'ema.safetensors';
export const OPTIMIZERS_FILE = 'optimizers.safetensors';
export const TRAINER_STATE_FILE = 'trainer.json';

/** The `format` of trainer.json. */
export const AUTOENCODER_TRAINER_FORMAT = 'latent-diffusion.autoencoder-trainer/1';
const AE_PREFIX = 'optimizer_ae.';
const DISC_PREFIX = 'optimizer_disc.';

/** The settings that fix a run's arithmetic, and its schedule of checkpoints, samples and logs. */
export interface AutoencoderRunSettings {
  /** The data spec (`mnist`, `folder:<path>`, ...) or a library user's dataset name. */
  data: string;
  steps: number;
  batchSize: number;
  learningRate: number;
  /** Micro-batches whose gradients add up to one optimizer step. */
  accumulate: number;
  seed: number;
  /** EMA decay, or null without EMA. */
  emaDecay: number | null;
  randomFlip: boolean;
  /** 0: only at the end. */
  checkpointEvery: number;
  /** 0: never. */
  sampleEvery: number;
  logEvery: number;
  evalSamples: number;
  /** Checkpoints kept, newest first; null keeps all. */
  keepCheckpoints: number | null;
}

/** trainer.json. */
export interface AutoencoderTrainerState {
  format: typeof AUTOENCODER_TRAINER_FORMAT;
  /** Optimizer steps done. */
  step: number;
  /** The next micro-batch: batch `batch` of epoch `epoch`. */
  epoch: number;
  batch: number;
  generators: Record<string, GeneratorState>;
  settings: AutoencoderRunSettings;
  /** The config, CompVis layout. */
  config: ConfigObject;
  /** Held-out metrics at this step, when evaluated. */
  metrics: ReconstructionMetrics | null;
}

/** The live objects a checkpoint saves and restores. */
export interface AutoencoderTrainingParts {
  model: AutoencoderKL | VQModel;
  loss: Module;
  aeOptimizer: Optimizer<BaseHyperParams>;
  discOptimizer: Optimizer<BaseHyperParams>;
  ema: EMA | null;
}

/** The files of a checkpoint of `parts` in `state`, for writeCheckpoint. */
export function autoencoderCheckpointFiles(
  parts: AutoencoderTrainingParts,
  state: AutoencoderTrainerState,
): CheckpointFile[] {
  const files: CheckpointFile[] = [
    {
      name: MODEL_FILE,
      write: (file) => {
        const tensors = new Map<string, TensorRecord>(parts.model.stateDict());
        for (const [key, value] of parts.loss.stateDict()) tensors.set(`loss.${key}`, value);
        writeSafetensors(file, tensors, {
          format: 'latent-diffusion.autoencoder/1',
          config: JSON.stringify(state.config),
          step: String(state.step),
        });
      },
    },
    {
      name: OPTIMIZERS_FILE,
      write: (file) => {
        const ae = optimizerStateToTensors(parts.aeOptimizer.stateDict(), AE_PREFIX);
        const disc = optimizerStateToTensors(parts.discOptimizer.stateDict(), DISC_PREFIX);
        writeSafetensors(file, new Map([...ae.tensors, ...disc.tensors]), {
          optimizer_ae: ae.json,
          optimizer_disc: disc.json,
        });
      },
    },
  ];
  const { ema } = parts;
  if (ema !== null)
    files.push({
      name: EMA_FILE,
      write: (file) =>
        writeEmaWeights(file, ema.stateDict(), { config: JSON.stringify(state.config), step: String(state.step) }),
    });
  files.push({ name: TRAINER_STATE_FILE, write: (file) => fs.writeFileSync(file, JSON.stringify(state, null, 2)) });
  return files;
}

/** Reads and checks trainer.json of a checkpoint directory. */
export function readAutoencoderTrainerState(dir: string): AutoencoderTrainerState {
  const file = path.join(dir, TRAINER_STATE_FILE);
  let state: AutoencoderTrainerState;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as AutoencoderTrainerState;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (state?.format !== AUTOENCODER_TRAINER_FORMAT) {
    throw new Error(`${file} is not a first-stage trainer state (format ${JSON.stringify(state?.format)})`);
  }
  for (const key of ['step', 'epoch', 'batch'] as const) {
    if (!Number.isSafeInteger(state[key]) || state[key] < 0) throw new Error(`${file}: bad ${key} ${state[key]}`);
  }
  return state;
}

/** Loads weights, loss state, optimizer states and EMA from a checkpoint directory into `parts`. */
export function restoreAutoencoderCheckpoint(dir: string, parts: AutoencoderTrainingParts): void {
  const { loss } = loadAutoencoderStateDict(parts.model, readSafetensors(path.join(dir, MODEL_FILE)));
  parts.loss.loadStateDict(loss);

  const optimizersPath = path.join(dir, OPTIMIZERS_FILE);
  const file = SafetensorsFile.open(optimizersPath);
  const { optimizer_ae: aeJson, optimizer_disc: discJson } = file.metadata;
  file.close();
  if (aeJson === undefined || discJson === undefined) {
    throw new Error(`${optimizersPath}: metadata lacks optimizer_ae / optimizer_disc`);
  }
  const tensors = readSafetensors(optimizersPath);
  parts.aeOptimizer.loadStateDict(optimizerStateFromTensors(onlyPrefix(tensors, AE_PREFIX), aeJson, AE_PREFIX));
  parts.discOptimizer.loadStateDict(optimizerStateFromTensors(onlyPrefix(tensors, DISC_PREFIX), discJson, DISC_PREFIX));

  if (parts.ema !== null) parts.ema.loadStateDict(readEmaWeights(path.join(dir, EMA_FILE)));
}

function onlyPrefix(tensors: Map<string, TensorRecord>, prefix: string): Map<string, TensorRecord> {
  return new Map([...tensors].filter(([key]) => key.startsWith(prefix)));
}
