// Setting up a first-stage training run: its options and their defaults, the settings a resumed
// run may change, and the model with the loss of its family built from the config.
import { AutoencoderKL } from '../models/autoencoder/autoencoder-kl.js';
import { autoencoderFromConfig } from '../models/autoencoder/checkpoint.js';
import type { AutoencoderTrainingConfig } from '../models/autoencoder/config.js';
import type { VQModel } from '../models/autoencoder/vq-model.js';
import { lossFromConfig } from '../models/losses/config.js';
import { LPIPSWithDiscriminator } from '../models/losses/contperceptual.js';
import { VQLPIPSWithDiscriminator } from '../models/losses/vqperceptual.js';
import type { Generator } from '../tensor/random.js';
import type { AutoencoderRunSettings } from './autoencoder-checkpoint.js';
import { scaledLearningRate } from './autoencoder-config.js';
import type { ProgressSink } from './progress.js';
import type { TrainingData } from './training-data.js';

export interface AutoencoderTrainerOptions {
  config: AutoencoderTrainingConfig;
  /** A data spec (`mnist`, `folder:<path>`, ...) or datasets of your own. */
  data: string | TrainingData;
  /** Where checkpoints, log.jsonl and samples/ go; must not hold a run already. */
  outDir: string;
  steps: number;
  /** Default: the config's data.params.batch_size. */
  batchSize?: number;
  /** Default: base_learning_rate x batchSize x accumulate. */
  learningRate?: number;
  /** Default 1. */
  accumulate?: number;
  /** Default 0. */
  seed?: number;
  /** Keep an EMA of the weights with this decay (LitEma's is 0.9999); default none. */
  emaDecay?: number | null;
  /** Mirror training images at random (default false). */
  randomFlip?: boolean;
  /** Default 1000; 0 saves only at the end. */
  checkpointEvery?: number;
  /** Default 500; 0: only at the end. */
  sampleEvery?: number;
  /** Steps between log.jsonl records and plain progress lines (default 10). */
  logEvery?: number;
  /** Held-out images for PSNR/SSIM (default 256). */
  evalSamples?: number;
  /** Keep only the newest this many checkpoints (default: all). */
  keepCheckpoints?: number | null;
  progress?: ProgressSink;
}

/** What may change when a run resumes; everything that fixes its arithmetic comes from the checkpoint. */
export interface ResumeOptions {
  steps?: number;
  checkpointEvery?: number;
  sampleEvery?: number;
  logEvery?: number;
  evalSamples?: number;
  keepCheckpoints?: number | null;
  /** Another location of the same data (e.g. a moved folder). */
  data?: string | TrainingData;
  /** Default: the run directory the checkpoint sits in. */
  outDir?: string;
  progress?: ProgressSink;
}

/** The model with the loss of its family. */
export type FirstStagePair =
  | { kind: 'kl'; model: AutoencoderKL; loss: LPIPSWithDiscriminator }
  | { kind: 'vq'; model: VQModel; loss: VQLPIPSWithDiscriminator };

/** A new run's settings: the options, with defaults filled in. */
export function newRunSettings(options: AutoencoderTrainerOptions, dataName: string): AutoencoderRunSettings {
  const { config } = options;
  const batchSize = options.batchSize ?? config.batch_size;
  const accumulate = options.accumulate ?? 1;
  return {
    data: dataName,
    steps: options.steps,
    batchSize,
    learningRate: options.learningRate ?? scaledLearningRate(config.base_learning_rate, batchSize, accumulate),
    accumulate,
    seed: options.seed ?? 0,
    emaDecay: options.emaDecay ?? null,
    randomFlip: options.randomFlip ?? false,
    checkpointEvery: options.checkpointEvery ?? 1000,
    sampleEvery: options.sampleEvery ?? 500,
    logEvery: options.logEvery ?? 10,
    evalSamples: options.evalSamples ?? 256,
    keepCheckpoints: options.keepCheckpoints ?? null,
  };
}

/** A resumed run's settings: the saved ones, with the schedule changes `options` asks for. */
export function resumedRunSettings(
  saved: AutoencoderRunSettings,
  options: ResumeOptions,
  dataName: string,
): AutoencoderRunSettings {
  const keys = ['steps', 'checkpointEvery', 'sampleEvery', 'logEvery', 'evalSamples', 'keepCheckpoints'] as const;
  const overrides = Object.fromEntries(
    keys.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
  );
  return { ...saved, ...overrides, data: dataName };
}

/** The model a config describes, with its loss (discriminator included). */
export function buildFirstStagePair(
  config: AutoencoderTrainingConfig,
  modelGenerator: Generator,
  lossGenerator: Generator,
): FirstStagePair {
  const where = `config ${config.source}`;
  const { lossconfig } = config.model.params;
  const loss = lossFromConfig({ target: lossconfig.target, params: { ...lossconfig.params } }, lossGenerator);
  if (loss === null) {
    throw new Error(
      `${where}: model.params.lossconfig is ${lossconfig.target}; training needs LPIPSWithDiscriminator or VQLPIPSWithDiscriminator`,
    );
  }
  const { disc_in_channels: discChannels } = lossconfig.params;
  const { out_ch: channels } = config.model.params.ddconfig;
  if (discChannels !== channels) {
    throw new Error(
      `${where}: lossconfig disc_in_channels is ${discChannels}, but the images have ${channels} channels`,
    );
  }
  const model = autoencoderFromConfig(config.model, modelGenerator);
  if (model instanceof AutoencoderKL && loss instanceof LPIPSWithDiscriminator) return { kind: 'kl', model, loss };
  if (!(model instanceof AutoencoderKL) && loss instanceof VQLPIPSWithDiscriminator) return { kind: 'vq', model, loss };
  throw new Error(`${where}: the loss ${loss.constructor.name} does not fit the model ${model.constructor.name}`);
}

/** Checks settings (from options or a checkpoint) before anything is built. */
export function checkRunSettings(s: AutoencoderRunSettings): void {
  const positive = {
    steps: s.steps,
    batchSize: s.batchSize,
    accumulate: s.accumulate,
    logEvery: s.logEvery,
    evalSamples: s.evalSamples,
  };
  for (const [key, value] of Object.entries(positive)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new Error(`AutoencoderTrainer: ${key} must be an integer >= 1, got ${value}`);
  }
  for (const [key, value] of Object.entries({
    checkpointEvery: s.checkpointEvery,
    sampleEvery: s.sampleEvery,
    seed: s.seed,
  })) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`AutoencoderTrainer: ${key} must be an integer >= 0, got ${value}`);
  }
  if (!(Number.isFinite(s.learningRate) && s.learningRate > 0)) {
    throw new Error(`AutoencoderTrainer: learningRate must be a positive number, got ${s.learningRate}`);
  }
  if (s.emaDecay !== null && !(s.emaDecay > 0 && s.emaDecay < 1)) {
    throw new Error(`AutoencoderTrainer: emaDecay must lie in (0, 1), got ${s.emaDecay}`);
  }
  if (s.keepCheckpoints !== null && !(Number.isSafeInteger(s.keepCheckpoints) && s.keepCheckpoints >= 1)) {
    throw new Error(`AutoencoderTrainer: keepCheckpoints must be an integer >= 1, got ${s.keepCheckpoints}`);
  }
}
