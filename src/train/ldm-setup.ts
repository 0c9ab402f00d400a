// Setting up a latent diffusion training run: the frozen first stage from its checkpoint, the
// latent cache (built once, reused when it matches), scale_by_std, the run's settings with their
// defaults; and resuming a run from a checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildLatentCache, latentCacheSource, saveLatentCache } from '../data/latent-cache.js';
import { readCompVisConfig } from '../io/config.js';
import { readLdmConfig, type LdmTrainingConfig } from '../models/ldm/config.js';
import { attachStoredTokenizer, ldmFromConfig } from '../models/ldm/checkpoint.js';
import type { CaptionChoice } from '../data/loader.js';
import type { FirstStage, LatentDiffusion } from '../models/ldm/latent-diffusion.js';
import { IdentityFirstStage } from '../models/autoencoder/identity-first-stage.js';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import { loadFirstStageModel } from './autoencoder-tools.js';
import { readLastPointer, resolveCheckpoint } from './checkpoint.js';
import {
  LDM_MODEL_FILE,
  LDM_TRAINER_STATE_FILE,
  readLdmTrainerState,
  restoreLdmCheckpoint,
  type LdmRunSettings,
} from './ldm-checkpoint.js';
import { LdmTrainer } from './ldm-trainer.js';
import { silentProgress, type ProgressSink } from './progress.js';
import { openTrainingData } from './training-data.js';

export const LATENT_CACHE_FILE = 'latents.safetensors';
/** What a pixel-space run records as its autoencoder. */
const IDENTITY_FIRST_STAGE = 'identity';

export interface LdmTrainerOptions {
  config: LdmTrainingConfig;
  /**
   * The first stage: a run directory, checkpoint directory or weights file of train-autoencoder;
   * none for a pixel-space config (first_stage_config IdentityFirstStage).
   */
  autoencoder?: string;
  /** Data spec: mnist, fashion-mnist, emoji, folder:<path>. */
  data: string;
  outDir: string;
  steps: number;
  /** Default: the config's data.params.batch_size. */
  batchSize?: number;
  /** Default: base_learning_rate x batch size (CompVis scale_lr). */
  learningRate?: number;
  /** Default 0.01 (AdamW's default, as the original). */
  weightDecay?: number;
  seed?: number;
  /** Default 0.9999 when the config's use_ema (default true), else none. */
  emaDecay?: number | null;
  /** Default: the class embedder's ucg_rate. */
  conditionDropout?: number;
  /** Caption making for text models (default 'combine' for emoji data, else 'random'). */
  captionChoice?: CaptionChoice;
  /** Encode mirrored images too and pick either at random (default false). */
  randomFlip?: boolean;
  checkpointEvery?: number;
  sampleEvery?: number;
  logEvery?: number;
  keepCheckpoints?: number | null;
  /** The latent cache file (default <out>/latents.safetensors); reused when it exists and matches. */
  latents?: string;
  preview?: Partial<LdmRunSettings['preview']>;
  progress?: ProgressSink;
}

export interface LdmResumeOptions {
  steps?: number;
  checkpointEvery?: number;
  sampleEvery?: number;
  logEvery?: number;
  keepCheckpoints?: number | null;
  progress?: ProgressSink;
}

/** A new run: builds the model and the latent cache, and measures scale_by_std. */
export function createLdmTrainer(options: LdmTrainerOptions): LdmTrainer {
  const { config, outDir } = options;
  const progress = options.progress ?? silentProgress;
  if (readLastPointer(outDir) !== null) {
    throw new Error(
      `${outDir} already holds a training run; resume it with --resume ${outDir}, or choose another --out`,
    );
  }
  const seed = options.seed ?? 0;
  const firstStage = openFirstStage(config, options.autoencoder);
  const ldm = ldmFromConfig(config.model, firstStage.model, new Generator(seed));
  const randomFlip = options.randomFlip ?? false;
  fs.mkdirSync(outDir, { recursive: true });
  const latents = options.latents ?? path.join(outDir, LATENT_CACHE_FILE);
  prepareLatentCache(ldm, latents, options.data, firstStage.file, randomFlip, progress);
  const batchSize = options.batchSize ?? config.batch_size;
  const settings: LdmRunSettings = {
    data: options.data,
    autoencoder: firstStage.file,
    latents,
    steps: options.steps,
    batchSize,
    learningRate: options.learningRate ?? config.base_learning_rate * batchSize,
    weightDecay: options.weightDecay ?? 0.01,
    seed,
    emaDecay: options.emaDecay !== undefined ? options.emaDecay : config.model.params.use_ema ? 0.9999 : null,
    conditionDropout: options.conditionDropout ?? ldm.conditionDropout,
    randomFlip,
    captionChoice: options.captionChoice ?? (options.data === 'emoji' ? 'combine' : 'random'),
    checkpointEvery: options.checkpointEvery ?? 1000,
    sampleEvery: options.sampleEvery ?? 1000,
    logEvery: options.logEvery ?? 10,
    keepCheckpoints: options.keepCheckpoints ?? null,
    preview: { sampler: 'ddim', steps: 50, guidance: ldm.supportsGuidance ? 3 : 1, ...options.preview },
  };
  checkLdmSettings(settings);
  const trainer = new LdmTrainer(ldm, config, settings, outDir, progress);
  if (config.model.params.scale_by_std) {
    ldm.scaleFactor = 1;
    // Rounded to float32, as the checkpoint stores it, so that training and sampling use the same value.
    ldm.scaleFactor = Math.fround(1 / trainer.firstBatchLatentStd());
    progress.message(
      `scale_by_std: scale_factor ${ldm.scaleFactor.toPrecision(6)} (1 / std of the first batch's latents)`,
    );
  }
  return trainer;
}

/** Continues a run from its directory or a checkpoint in it. */
export function resumeLdmTrainer(location: string, options: LdmResumeOptions = {}): LdmTrainer {
  const dir = resolveCheckpoint(location, LDM_TRAINER_STATE_FILE);
  const state = readLdmTrainerState(dir);
  const config = readLdmConfig(readCompVisConfig(state.config, path.join(dir, LDM_TRAINER_STATE_FILE)));
  const ldm = ldmFromConfig(config.model, undefined, new Generator(state.settings.seed));
  attachStoredTokenizer(ldm, path.join(dir, LDM_MODEL_FILE));
  const keys = ['steps', 'checkpointEvery', 'sampleEvery', 'logEvery', 'keepCheckpoints'] as const;
  // Runs from before caption choices existed picked one candidate at random.
  const stored: Partial<LdmRunSettings> = state.settings;
  const settings: LdmRunSettings = { ...state.settings, captionChoice: stored.captionChoice ?? 'random' };
  for (const key of keys)
    if (options[key] !== undefined) (settings as unknown as Record<string, unknown>)[key] = options[key];
  checkLdmSettings(settings);
  const outDir = path.dirname(path.dirname(dir));
  const trainer = new LdmTrainer(ldm, config, settings, outDir, options.progress ?? silentProgress);
  restoreLdmCheckpoint(dir, { ldm, optimizer: trainer.optimizer, ema: trainer.ema });
  trainer.restorePosition(state);
  return trainer;
}

/** The frozen first stage: the autoencoder given, or the identity of a pixel-space config. */
function openFirstStage(
  config: LdmTrainingConfig,
  autoencoder: string | undefined,
): { model: FirstStage; file: string } {
  const { params } = config.model;
  if (config.model.firstStage === 'identity') {
    if (autoencoder !== undefined) {
      throw new Error(`${config.source} is a pixel-space model (IdentityFirstStage); it takes no autoencoder`);
    }
    return { model: new IdentityFirstStage(params.channels, params.image_size), file: IDENTITY_FIRST_STAGE };
  }
  if (autoencoder === undefined) throw new Error('ldm train: give the first stage with --autoencoder <dir|ckpt>');
  return loadFirstStageModel(autoencoder);
}

/** Loads the cache at `file` when it was made from the same data and first stage, or builds and saves it. */
function prepareLatentCache(
  ldm: LatentDiffusion,
  file: string,
  data: string,
  firstStageFile: string,
  flip: boolean,
  progress: ProgressSink,
): void {
  if (fs.existsSync(file)) {
    const source = latentCacheSource(file);
    if (source.data === data && source.firstStage === firstStageFile && source.flip === flip) {
      progress.message(`latent cache ${file}: reused`);
      return;
    }
    throw new Error(
      `${file} holds latents of ${source.data} by ${source.firstStage}${source.flip ? ' with flips' : ''}; ` +
        'remove it or choose another --latents',
    );
  }
  const stage = ldm.firstStageModel;
  const { resolution, in_channels: channels } = stage.options.ddconfig;
  const { train } = openTrainingData(data, resolution, channels);
  const started = performance.now();
  let lastReport = 0;
  const cache = buildLatentCache(
    train,
    (images) => noGrad(() => (stage.kind === 'kl' ? stage.encode(images).moments : stage.encodeLatent(images))),
    {
      kind: stage.kind === 'kl' ? 'kl-moments' : 'latents',
      flip,
      firstStage: firstStageFile,
      onProgress: (done, total) => {
        const now = performance.now();
        if (now - lastReport < 5000 && done < total) return;
        lastReport = now;
        const rate = done / ((now - started) / 1000);
        progress.message(`encoding ${train.name} to latents: ${done}/${total} images (${rate.toFixed(0)} images/s)`);
      },
    },
  );
  cache.source.data = data;
  saveLatentCache(file, cache);
  const seconds = (performance.now() - started) / 1000;
  progress.message(`latent cache ${file}: ${cache.count} images encoded in ${seconds.toFixed(1)} s`);
}

function checkLdmSettings(s: LdmRunSettings): void {
  for (const [key, value] of Object.entries({ steps: s.steps, batchSize: s.batchSize, logEvery: s.logEvery })) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new Error(`LdmTrainer: ${key} must be an integer >= 1, got ${value}`);
  }
  for (const [key, value] of Object.entries({
    checkpointEvery: s.checkpointEvery,
    sampleEvery: s.sampleEvery,
    seed: s.seed,
  })) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`LdmTrainer: ${key} must be an integer >= 0, got ${value}`);
  }
  if (!(s.learningRate > 0)) throw new Error(`LdmTrainer: learningRate must be > 0, got ${s.learningRate}`);
  if (!(s.conditionDropout >= 0 && s.conditionDropout < 1))
    throw new Error(`LdmTrainer: conditionDropout must lie in [0, 1), got ${s.conditionDropout}`);
  if (s.emaDecay !== null && !(s.emaDecay > 0 && s.emaDecay < 1))
    throw new Error(`LdmTrainer: emaDecay must lie in (0, 1), got ${s.emaDecay}`);
}
