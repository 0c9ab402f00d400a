// Training a first-stage autoencoder (Rombach et al. 2022, Sec. 3.1 and appendix G), as the
// CompVis code trains it under Lightning: two Adam optimizers with betas (0.5, 0.9), the
// autoencoder's on the generator loss and the PatchGAN discriminator's on the discriminator
// loss, stepping alternately once per batch (`step` is Lightning's global_step), at
// lr = base_learning_rate x batch size x accumulated batches unless given.
// Two differences from the original, both to save CPU time: the discriminator phase reuses the
// generator phase's reconstructions (detached) instead of a second forward pass, and it is
// skipped entirely before disc_start (the original steps that optimizer on zero gradients, which
// moves no weight but advances Adam's step count and the discriminator's BatchNorm statistics).
// As in the original, `logvar` of the KL loss is not trained (its optimizers leave it out).
// With `accumulate` N, each optimizer step sums the gradients of N micro-batches (each loss / N).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataLoader } from '../data/loader.js';
import { saveImage } from '../io/image.js';
import type { AutoencoderKL } from '../models/autoencoder/autoencoder-kl.js';
import type { AutoencoderTrainingConfig } from '../models/autoencoder/config.js';
import type { VQModel } from '../models/autoencoder/vq-model.js';
import { adoptWeight } from '../models/losses/adversarial.js';
import type { LPIPSWithDiscriminator } from '../models/losses/contperceptual.js';
import type { VQLPIPSWithDiscriminator } from '../models/losses/vqperceptual.js';
import { Adam } from '../optim/adam.js';
import { EMA } from '../optim/ema.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  AUTOENCODER_TRAINER_FORMAT,
  autoencoderCheckpointFiles,
  readAutoencoderTrainerState,
  restoreAutoencoderCheckpoint,
  TRAINER_STATE_FILE,
  type AutoencoderRunSettings,
  type AutoencoderTrainerState,
} from './autoencoder-checkpoint.js';
import { autoencoderConfigFromObject, autoencoderConfigToObject } from './autoencoder-config.js';
import {
  evaluateReconstructions,
  reconstructImages,
  reconstructionGrid,
  type ReconstructionMetrics,
} from './autoencoder-evaluation.js';
import {
  buildFirstStagePair,
  checkRunSettings,
  newRunSettings,
  resumedRunSettings,
  type AutoencoderTrainerOptions,
  type FirstStagePair,
  type ResumeOptions,
} from './autoencoder-setup.js';
import { generatorStates, restoreGenerators } from './generator-states.js';
import { checkpointName, readLastPointer, resolveCheckpoint, writeCheckpoint } from './checkpoint.js';
import { silentProgress, type ProgressSink } from './progress.js';
import { RunLog } from './run-log.js';
import { fixedImages, openTrainingData, type TrainingData } from './training-data.js';

export type { AutoencoderTrainerOptions, ResumeOptions } from './autoencoder-setup.js';

/** Adam's betas for both optimizers, as the original's configure_optimizers. */
const BETAS: [number, number] = [0.5, 0.9];
/** Images per row of the reconstruction grid. */
const GRID_IMAGES = 8;

export interface StepResult {
  step: number;
  /** The original's log keys: `train/total_loss`, `train/rec_loss`, ..., `train/disc_loss`. */
  logs: Record<string, number>;
  images: number;
  seconds: number;
}

export interface TrainResult {
  step: number;
  reason: 'finished' | 'interrupted';
  /** The last checkpoint written. */
  checkpoint: string | null;
  metrics: ReconstructionMetrics | null;
}

export class AutoencoderTrainer {
  readonly model: AutoencoderKL | VQModel;
  readonly loss: LPIPSWithDiscriminator | VQLPIPSWithDiscriminator;
  readonly aeOptimizer: Adam;
  readonly discOptimizer: Adam;
  readonly ema: EMA | null;
  readonly outDir: string;
  readonly log: RunLog;
  /** Optimizer steps done. */
  step = 0;
  /** The last held-out metrics. */
  metrics: ReconstructionMetrics | null = null;
  private readonly pair: FirstStagePair;
  private readonly loader: DataLoader;
  private readonly generators: { model: Generator; loss: Generator; sample: Generator };
  private readonly sampleImages: Tensor;
  private epoch = 0;
  private batch = 0;
  /** This session's training time and images, for throughput and ETA. */
  private session = { seconds: 0, images: 0, steps: 0 };

  private constructor(
    readonly config: AutoencoderTrainingConfig,
    readonly data: TrainingData,
    readonly settings: AutoencoderRunSettings,
    outDir: string,
    readonly progress: ProgressSink,
  ) {
    checkRunSettings(settings);
    const { ddconfig } = config.model.params;
    if (data.train.size !== ddconfig.resolution || data.train.channels !== ddconfig.in_channels) {
      throw new Error(
        `AutoencoderTrainer: ${data.name} gives ${data.train.channels} x ${data.train.size} x ${data.train.size} images; the model takes ${ddconfig.in_channels} x ${ddconfig.resolution} x ${ddconfig.resolution}`,
      );
    }
    this.outDir = outDir;
    this.log = new RunLog(path.join(outDir, 'log.jsonl'));
    const { seed } = settings;
    this.generators = { model: new Generator(seed), loss: new Generator(seed + 1), sample: new Generator(seed + 2) };
    this.pair = buildFirstStagePair(config, this.generators.model, this.generators.loss);
    this.model = this.pair.model;
    this.loss = this.pair.loss;
    const options = { lr: settings.learningRate, betas: BETAS };
    this.aeOptimizer = new Adam(this.model.namedParameters(), options);
    this.discOptimizer = new Adam(this.loss.discriminator.namedParameters(), options);
    this.ema = settings.emaDecay === null ? null : new EMA(this.model.namedParameters(), { decay: settings.emaDecay });
    const { batchSize, randomFlip } = settings;
    const dropLast = data.train.length >= batchSize;
    this.loader = new DataLoader(data.train, { batchSize, shuffle: true, dropLast, randomFlip, seed });
    this.sampleImages = fixedImages(data, GRID_IMAGES);
  }

  /** A new run in `options.outDir`. */
  static create(options: AutoencoderTrainerOptions): AutoencoderTrainer {
    const { config, outDir } = options;
    if (readLastPointer(outDir) !== null) {
      throw new Error(
        `${outDir} already holds a training run; resume it with --resume ${outDir}, or choose another --out`,
      );
    }
    const { ddconfig } = config.model.params;
    const data =
      typeof options.data === 'string'
        ? openTrainingData(options.data, ddconfig.resolution, ddconfig.in_channels)
        : options.data;
    const settings = newRunSettings(options, data.name);
    fs.mkdirSync(outDir, { recursive: true });
    return new AutoencoderTrainer(config, data, settings, outDir, options.progress ?? silentProgress);
  }

  /** Continues a run from a checkpoint (a run directory, a checkpoint directory or a file in one). */
  static resume(location: string, options: ResumeOptions = {}): AutoencoderTrainer {
    const dir = resolveCheckpoint(location, TRAINER_STATE_FILE);
    const state = readAutoencoderTrainerState(dir);
    const config = autoencoderConfigFromObject(state.config, path.join(dir, TRAINER_STATE_FILE));
    const { ddconfig } = config.model.params;
    const source = options.data ?? state.settings.data;
    let data: TrainingData;
    try {
      data = typeof source === 'string' ? openTrainingData(source, ddconfig.resolution, ddconfig.in_channels) : source;
    } catch (err) {
      throw new Error(
        `the run trained on "${state.settings.data}", which cannot be opened (${(err as Error).message}); give the data again`,
      );
    }
    const settings = resumedRunSettings(state.settings, options, data.name);
    const outDir = options.outDir ?? path.dirname(path.dirname(dir));
    const trainer = new AutoencoderTrainer(config, data, settings, outDir, options.progress ?? silentProgress);
    restoreAutoencoderCheckpoint(dir, trainer);
    restoreGenerators(trainer.generators, state.generators, dir);
    trainer.step = state.step;
    trainer.epoch = state.epoch;
    trainer.batch = state.batch;
    trainer.metrics = state.metrics;
    return trainer;
  }

  /**
   * Trains to `settings.steps`, with logs, grids, evaluations and checkpoints on schedule, and a
   * final evaluation and checkpoint. Yields to the event loop between steps, so that `signal`
   * (e.g. aborted on SIGINT) is seen: the run then saves a checkpoint and returns 'interrupted'.
   */
  async run({ signal }: { signal?: AbortSignal } = {}): Promise<TrainResult> {
    const { steps, logEvery, sampleEvery, checkpointEvery } = this.settings;
    this.logStart();
    let checkpoint: string | null = null;
    try {
      while (this.step < steps) {
        if (signal?.aborted === true) {
          checkpoint = this.saveCheckpoint();
          this.progress.message(`interrupted at step ${this.step}; checkpoint saved to ${checkpoint}`);
          this.log.write({ event: 'end', step: this.step, reason: 'interrupted' });
          return { step: this.step, reason: 'interrupted', checkpoint, metrics: this.metrics };
        }
        const result = this.trainStep();
        this.reportStep(result);
        if (this.step % logEvery === 0 || this.step === steps) {
          this.log.write({
            event: 'train',
            step: this.step,
            epoch: this.epoch,
            lr: this.settings.learningRate,
            ...result.logs,
          });
        }
        if (sampleEvery > 0 && this.step % sampleEvery === 0) this.saveSamples();
        if (checkpointEvery > 0 && this.step % checkpointEvery === 0 && this.step < steps) {
          this.evaluate();
          checkpoint = this.saveCheckpoint();
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (sampleEvery === 0 || this.step % sampleEvery !== 0) this.saveSamples();
      this.evaluate();
      checkpoint = this.saveCheckpoint();
      this.log.write({ event: 'end', step: this.step, reason: 'finished' });
      return { step: this.step, reason: 'finished', checkpoint, metrics: this.metrics };
    } finally {
      this.progress.close();
    }
  }

  /** One optimizer step of each model (the discriminator's from disc_start on). Synchronous. */
  trainStep(): StepResult {
    const started = performance.now();
    const { accumulate } = this.settings;
    const globalStep = this.step;
    const lastLayer = this.model.decoder.convOut.weight;
    this.aeOptimizer.zeroGrad();
    this.loss.zeroGrad();
    const held: { inputs: Tensor; reconstructions: Tensor }[] = [];
    const logs: Record<string, number> = {};
    const addLogs = (values: object): void => {
      for (const [key, value] of Object.entries(values)) {
        logs[`train/${key}`] = (logs[`train/${key}`] ?? 0) + (value as number) / accumulate;
      }
    };
    for (let micro = 0; micro < accumulate; micro++) {
      const inputs = this.nextBatch();
      const { loss, log, reconstructions } = this.generatorLoss(inputs, globalStep, lastLayer);
      // The detached view keeps the reconstructions' memory out of the activations released here.
      held.push({ inputs, reconstructions: reconstructions.detach() });
      (accumulate === 1 ? loss : loss.mul(1 / accumulate)).backward(undefined, { releaseActivations: true });
      addLogs(log);
    }
    this.aeOptimizer.step();
    if (adoptWeight(this.loss.discFactor, globalStep, this.loss.discStart) > 0) {
      this.discOptimizer.zeroGrad();
      for (const { inputs, reconstructions } of held) {
        const { loss, log } = this.loss.discriminatorLoss({ inputs, reconstructions, globalStep });
        (accumulate === 1 ? loss : loss.mul(1 / accumulate)).backward(undefined, { releaseActivations: true });
        addLogs(log);
      }
      this.discOptimizer.step();
    }
    this.ema?.update();
    this.step += 1;
    const seconds = (performance.now() - started) / 1000;
    const images = held.reduce((n, { inputs }) => n + inputs.shape[0], 0);
    this.session.seconds += seconds;
    this.session.images += images;
    this.session.steps += 1;
    return { step: this.step, logs, images, seconds };
  }

  /** PSNR and SSIM on the held-out split (EMA weights when kept), logged and printed; null without a test split. */
  evaluate(): ReconstructionMetrics | null {
    const test = this.data.test;
    if (test === null) return null;
    const { evalSamples: count, batchSize } = this.settings;
    const metrics = this.withInferenceWeights(() => evaluateReconstructions(this.model, test, { count, batchSize }));
    this.metrics = metrics;
    this.log.write({
      event: 'eval',
      step: this.step,
      'val/psnr': metrics.psnr,
      'val/ssim': metrics.ssim,
      images: metrics.count,
    });
    const ssimText = metrics.ssim === null ? 'SSIM n/a (images under 11 px)' : `SSIM ${metrics.ssim.toFixed(4)}`;
    this.progress.message(
      `eval at step ${this.step}: PSNR ${metrics.psnr.toFixed(2)} dB, ${ssimText} on ${metrics.count} held-out images`,
    );
    return metrics;
  }

  /** Writes `<out>/samples/step-NNNNNN.png`: fixed images above, their reconstructions below. */
  saveSamples(): string {
    const dir = path.join(this.outDir, 'samples');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${checkpointName(this.step)}.png`);
    const reconstructions = this.withInferenceWeights(() => reconstructImages(this.model, this.sampleImages));
    saveImage(reconstructionGrid(this.sampleImages, reconstructions), file, {
      text: { Software: 'latent-diffusion', step: String(this.step), data: this.data.name, config: this.config.source },
    });
    this.log.write({ event: 'samples', step: this.step, path: file });
    return file;
  }

  /** Writes a checkpoint of the current state and points `<out>/last` at it. */
  saveCheckpoint(): string {
    const state: AutoencoderTrainerState = {
      format: AUTOENCODER_TRAINER_FORMAT,
      step: this.step,
      epoch: this.epoch,
      batch: this.batch,
      generators: generatorStates(this.generators),
      settings: this.settings,
      config: autoencoderConfigToObject(this.config),
      metrics: this.metrics,
    };
    const keep = this.settings.keepCheckpoints ?? undefined;
    const dir = writeCheckpoint(this.outDir, this.step, autoencoderCheckpointFiles(this, state), { keep });
    this.log.write({ event: 'checkpoint', step: this.step, path: dir });
    this.progress.message(`checkpoint at step ${this.step}: ${dir}`);
    return dir;
  }

  private generatorLoss(
    inputs: Tensor,
    globalStep: number,
    lastLayer: Tensor,
  ): { loss: Tensor; log: object; reconstructions: Tensor } {
    const { pair } = this;
    if (pair.kind === 'kl') {
      const { reconstruction, posterior } = pair.model.forward(inputs, { generator: this.generators.sample });
      const kl = posterior.kl();
      const result = pair.loss.generatorLoss({ inputs, reconstructions: reconstruction, kl, globalStep, lastLayer });
      return { ...result, reconstructions: reconstruction };
    }
    const { reconstruction, quantLoss, perplexity } = pair.model.forward(inputs);
    const result = pair.loss.generatorLoss({
      inputs,
      reconstructions: reconstruction,
      codebookLoss: quantLoss,
      globalStep,
      lastLayer,
    });
    return { loss: result.loss, log: { ...result.log, perplexity }, reconstructions: reconstruction };
  }

  private nextBatch(): Tensor {
    const { images } = this.loader.batch(this.epoch, this.batch);
    this.batch += 1;
    if (this.batch >= this.loader.length) {
      this.epoch += 1;
      this.batch = 0;
    }
    return images;
  }

  /** Runs fn with the EMA weights in the model when an EMA is kept, then puts the trained ones back. */
  private withInferenceWeights<T>(fn: () => T): T {
    return this.ema === null ? fn() : this.ema.withAveraged(fn);
  }

  private reportStep(result: StepResult): void {
    const { logs } = result;
    const values: Record<string, number> = { loss: logs['train/total_loss'], rec: logs['train/rec_loss'] };
    if (logs['train/kl_loss'] !== undefined) values.kl = logs['train/kl_loss'];
    if (logs['train/quant_loss'] !== undefined) values.quant = logs['train/quant_loss'];
    if (logs['train/disc_loss'] !== undefined) values.disc = logs['train/disc_loss'];
    const { seconds, images, steps } = this.session;
    this.progress.step({
      step: this.step,
      totalSteps: this.settings.steps,
      values,
      imagesPerSecond: images / seconds,
      etaSeconds: ((this.settings.steps - this.step) * seconds) / steps,
    });
  }

  private logStart(): void {
    const { data } = this;
    this.log.write({
      event: 'start',
      step: this.step,
      config: this.config.source,
      model: this.config.model.target,
      parameters: this.model.numParameters(),
      discriminator_parameters: this.loss.discriminator.numParameters(),
      train_images: data.train.length,
      test_images: data.test?.length ?? 0,
      settings: this.settings,
    });
    if (data.test === null) this.progress.message(`no held-out evaluation: ${data.testUnavailable ?? 'no test split'}`);
  }
}
