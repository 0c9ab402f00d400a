// Training the latent diffusion U-Net (Rombach et al. 2022, Sec. 3.3; the CompVis
// LatentDiffusion.training_step): latents of a frozen first stage (cached once, see
// data/latent-cache.ts) scaled by scale_factor, t ~ U{0..T-1}, x_t = q(x_t | x_0), the U-Net's
// output regressed onto the target of the parameterization with the simple L2 (or L1) loss.
// Class labels are replaced by the null class with probability ucg_rate, so that one model
// serves both branches of classifier-free guidance. AdamW (torch defaults, weight decay 0.01)
// over the U-Net and a trainable conditioning encoder; an EMA of the U-Net (LitEma) for sampling.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataLoader } from '../data/loader.js';
import { LatentDataset, loadLatentCache } from '../data/latent-cache.js';
import { qSample, trainingTarget } from '../diffusion/index.js';
import { saveImage } from '../io/image.js';
import type { LatentDiffusion, LdmConditioning } from '../models/ldm/latent-diffusion.js';
import { AdamW } from '../optim/adam.js';
import { EMA } from '../optim/ema.js';
import { lambdaLinearSchedule, type LRSchedule } from '../optim/lr-schedule.js';
import { classGridLabels, generate } from '../pipelines/generate.js';
import { WordPieceTokenizer } from '../models/encoders/wordpiece-tokenizer.js';
import { Generator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { generatorStates, restoreGenerators } from './generator-states.js';
import { checkpointName, writeCheckpoint } from './checkpoint.js';
import { LDM_TRAINER_FORMAT, ldmCheckpointFiles, type LdmRunSettings, type LdmTrainerState } from './ldm-checkpoint.js';
import { ldmConfigToObject } from './ldm-config.js';
import type { LdmTrainingConfig } from '../models/ldm/config.js';
import { silentProgress, type ProgressSink } from './progress.js';
import { RunLog } from './run-log.js';

/** Images per class in a class-conditional preview grid; images in an unconditional one. */
const PREVIEW_PER_CLASS = 8;
const PREVIEW_UNCONDITIONAL = 64;
const PREVIEW_PROMPTS = 8;

export interface LdmStepResult {
  step: number;
  loss: number;
  samples: number;
  seconds: number;
}

export interface LdmTrainResult {
  step: number;
  reason: 'finished' | 'interrupted' | 'time-limit';
  checkpoint: string | null;
}

export class LdmTrainer {
  readonly optimizer: AdamW;
  readonly ema: EMA | null;
  readonly log: RunLog;
  step = 0;
  private readonly loader: DataLoader;
  private readonly generators: { diffusion: Generator; preview: Generator };
  private readonly lrSchedule: LRSchedule | null;
  private epoch = 0;
  private batch = 0;
  private session = { seconds: 0, samples: 0, steps: 0 };
  /** Prompts of a text model's preview grids: one row each. */
  private previewPrompts: string[] = [];

  constructor(
    readonly ldm: LatentDiffusion,
    readonly config: LdmTrainingConfig,
    readonly settings: LdmRunSettings,
    readonly outDir: string,
    readonly progress: ProgressSink = silentProgress,
  ) {
    const cache = loadLatentCache(settings.latents);
    const [c, h, w] = ldm.latentShape;
    if (cache.shape[0] !== c || cache.shape[1] !== h || cache.shape[2] !== w) {
      throw new Error(
        `LdmTrainer: the latent cache holds ${cache.shape.join(' x ')} latents; the model takes ${c} x ${h} x ${w}`,
      );
    }
    if (ldm.numClasses !== null && cache.labels === null) {
      throw new Error(`LdmTrainer: the model is class-conditional, but ${cache.source.data} has no labels`);
    }
    const text = ldm.textEncoder;
    if (text !== null) {
      if (cache.captions === null) {
        throw new Error(
          `LdmTrainer: the model is text-conditional, but ${cache.source.data} has no captions ` +
            '(folder data: a .txt file beside each image)',
        );
      }
      this.previewPrompts = settings.preview.prompts ?? previewPrompts(cache.captions);
      if (text.tokenizer === null) {
        const started = performance.now();
        const tokenizer = WordPieceTokenizer.train(cache.captions.flat(), { vocabSize: text.params.vocab_size });
        text.setTokenizer(tokenizer);
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        progress.message(
          `tokenizer: ${tokenizer.vocabSize} WordPiece tokens learned from the captions in ${seconds} s`,
        );
      }
    }
    const dataset = new LatentDataset(cache);
    const { batchSize, seed, captionChoice } = settings;
    const dropLast = dataset.length >= batchSize;
    this.loader = new DataLoader(dataset, { batchSize, shuffle: true, dropLast, seed, captionChoice });
    this.generators = { diffusion: new Generator(seed + 1), preview: new Generator(seed + 2) };
    const trainable = ldm.namedParameters().filter(([, p]) => p.requiresGrad);
    this.optimizer = new AdamW(trainable, { lr: settings.learningRate, weightDecay: settings.weightDecay });
    const unet = ldm.namedParameters().filter(([name]) => name.startsWith('model.'));
    this.ema = settings.emaDecay === null ? null : new EMA(unet, { decay: settings.emaDecay });
    this.lrSchedule = lrScheduleOf(config);
    this.log = new RunLog(path.join(outDir, 'log.jsonl'));
  }

  /** Restores the position of a checkpoint's trainer.json (weights are restored by the caller). */
  restorePosition(state: LdmTrainerState): void {
    this.step = state.step;
    this.epoch = state.epoch;
    this.batch = state.batch;
    restoreGenerators(this.generators, state.generators, this.outDir);
  }

  /**
   * Trains up to settings.steps. With `timeLimitSeconds`, stops once this call's training steps
   * (previews and checkpoints not counted) have taken that long, and saves a checkpoint.
   */
  async run({
    signal,
    timeLimitSeconds,
  }: { signal?: AbortSignal; timeLimitSeconds?: number } = {}): Promise<LdmTrainResult> {
    const { steps, logEvery, sampleEvery, checkpointEvery } = this.settings;
    this.log.write({
      event: 'start',
      step: this.step,
      config: this.config.source,
      parameters: this.ldm.model.numParameters(),
      trainable_parameters: this.ldm.numParameters({ onlyTrainable: true }),
      scale_factor: this.ldm.scaleFactor,
      settings: this.settings,
    });
    let checkpoint: string | null = null;
    try {
      let reason: LdmTrainResult['reason'] = 'finished';
      while (this.step < steps) {
        if (signal?.aborted === true) {
          checkpoint = this.saveCheckpoint();
          this.progress.message(`interrupted at step ${this.step}; checkpoint saved to ${checkpoint}`);
          this.log.write({ event: 'end', step: this.step, reason: 'interrupted', ...this.throughput() });
          return { step: this.step, reason: 'interrupted', checkpoint };
        }
        if (timeLimitSeconds !== undefined && this.session.seconds >= timeLimitSeconds) {
          reason = 'time-limit';
          this.progress.message(
            `time limit reached at step ${this.step} (${this.session.seconds.toFixed(0)} s of training)`,
          );
          break;
        }
        const result = this.trainStep();
        this.report(result);
        if (this.step % logEvery === 0 || this.step === steps) {
          this.log.write({
            event: 'train',
            step: this.step,
            epoch: this.epoch,
            lr: this.currentLr(),
            'train/loss_simple': result.loss,
          });
        }
        if (sampleEvery > 0 && this.step % sampleEvery === 0) this.savePreview();
        if (checkpointEvery > 0 && this.step % checkpointEvery === 0 && this.step < steps) {
          checkpoint = this.saveCheckpoint();
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (sampleEvery === 0 || this.step % sampleEvery !== 0) this.savePreview();
      checkpoint = this.saveCheckpoint();
      this.log.write({ event: 'end', step: this.step, reason, ...this.throughput() });
      return { step: this.step, reason, checkpoint };
    } finally {
      this.progress.close();
    }
  }

  /** One optimizer step on one batch of latents. */
  trainStep(): LdmStepResult {
    const started = performance.now();
    const { ldm } = this;
    const { latents, labels, captions } = this.nextBatch();
    const n = latents.shape[0];
    const g = this.generators.diffusion;
    const t = Array.from({ length: n }, () => g.integer(ldm.schedule.numTimesteps));
    const noise = Tensor.randn(latents.shape, g);
    const x0 = latents.mul(ldm.scaleFactor);
    const xt = qSample(ldm.schedule, x0, t, noise);
    const target = trainingTarget(ldm.schedule, ldm.parameterization, x0, noise, t);
    const output = ldm.applyModel(xt, Tensor.from(t, [n]), this.batchConditioning(labels, captions));
    const diff = output.sub(target);
    const loss = (ldm.config.params.loss_type === 'l1' ? diff.abs() : diff.mul(diff)).mean();
    this.optimizer.zeroGrad();
    // Nothing of the forward pass is read after this but the loss: its memory serves the next step.
    loss.backward(undefined, { releaseActivations: true });
    const lr = this.currentLr();
    for (const group of this.optimizer.paramGroups) group.lr = lr;
    this.optimizer.step();
    this.ema?.update();
    this.step += 1;
    const seconds = (performance.now() - started) / 1000;
    this.session.seconds += seconds;
    this.session.samples += n;
    this.session.steps += 1;
    return { step: this.step, loss: loss.item(), samples: n, seconds };
  }

  /**
   * `<out>/samples/step-NNNNNN.png`, sampled with the EMA weights: one row per class, or per
   * preview prompt of a text model, or an 8 x 8 grid.
   */
  savePreview(): string {
    const dir = path.join(this.outDir, 'samples');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${checkpointName(this.step)}.png`);
    const { sampler, steps, guidance } = this.settings.preview;
    const classes = this.ldm.numClasses;
    const prompts = this.previewPrompts;
    const seed = this.generators.preview.integer(2 ** 31);
    const common = { sampler: sampler as 'ddim', steps, seed };
    const rows = prompts.length > 0 ? prompts.length : classes;
    const images = this.withInferenceWeights(() => {
      if (rows === null) return generate(this.ldm, { ...common, n: PREVIEW_UNCONDITIONAL });
      const n = rows * PREVIEW_PER_CLASS;
      const grid = classGridLabels(rows, PREVIEW_PER_CLASS);
      return prompts.length > 0
        ? generate(this.ldm, { ...common, n, guidance, prompts: grid.map((row) => prompts[row]) })
        : generate(this.ldm, { ...common, n, guidance, labels: grid });
    });
    const text: Record<string, string> = {
      Software: 'latent-diffusion',
      step: String(this.step),
      sampler,
      steps: String(steps),
      guidance: String(guidance),
      seed: String(seed),
    };
    if (prompts.length > 0) text.prompts = JSON.stringify(prompts);
    saveImage(images, file, { nrow: rows === null ? 8 : PREVIEW_PER_CLASS, text });
    this.log.write({ event: 'samples', step: this.step, path: file });
    return file;
  }

  saveCheckpoint(): string {
    const state: LdmTrainerState = {
      format: LDM_TRAINER_FORMAT,
      step: this.step,
      epoch: this.epoch,
      batch: this.batch,
      generators: generatorStates(this.generators),
      settings: this.settings,
      config: ldmConfigToObject(this.config, this.ldm),
      scaleFactor: this.ldm.scaleFactor,
    };
    const keep = this.settings.keepCheckpoints ?? undefined;
    const parts = { ldm: this.ldm, optimizer: this.optimizer, ema: this.ema };
    const dir = writeCheckpoint(this.outDir, this.step, ldmCheckpointFiles(parts, state), { keep });
    this.log.write({ event: 'checkpoint', step: this.step, path: dir });
    this.progress.message(`checkpoint at step ${this.step}: ${dir}`);
    return dir;
  }

  /** Runs fn with the EMA weights in the U-Net, then puts the trained ones back. */
  withInferenceWeights<T>(fn: () => T): T {
    const { ema, ldm } = this;
    ldm.eval();
    try {
      return ema === null ? fn() : ema.withAveraged(fn);
    } finally {
      ldm.train();
    }
  }

  /** Std of the first training batch's latents, for scale_by_std (the original measures it there too). */
  firstBatchLatentStd(): number {
    const { data } = this.loader.batch(0, 0).images;
    let sum = 0;
    let sumSquares = 0;
    for (const v of data) {
      sum += v;
      sumSquares += v * v;
    }
    const mean = sum / data.length;
    // Unbiased, as torch.std.
    return Math.sqrt((sumSquares - data.length * mean * mean) / (data.length - 1));
  }

  /** This call's training time and speed, for the end record. */
  private throughput(): { train_seconds: number; samples_per_second: number } {
    const { seconds, samples } = this.session;
    return { train_seconds: seconds, samples_per_second: seconds > 0 ? samples / seconds : 0 };
  }

  private currentLr(): number {
    const factor = this.lrSchedule === null ? 1 : this.lrSchedule(this.step);
    return this.settings.learningRate * factor;
  }

  private dropLabels(labels: number[]): number[] {
    const nullClass = this.ldm.nullClass;
    const p = this.settings.conditionDropout;
    if (nullClass === null || p === 0) return labels;
    const g = this.generators.diffusion;
    return labels.map((label) => (g.uniform() < p ? nullClass : label));
  }

  /** The batch's condition for the U-Net, dropped for guidance training: its captions, its labels, or none. */
  private batchConditioning(labels: number[] | null, captions: string[]): LdmConditioning {
    if (this.ldm.textEncoder !== null) return this.ldm.conditioning({ prompts: this.dropCaptions(captions) });
    return labels === null ? {} : this.ldm.conditioning({ labels: this.dropLabels(labels) });
  }

  /** Replaces each caption by the empty one with probability conditionDropout, for guidance training. */
  private dropCaptions(captions: string[]): string[] {
    const p = this.settings.conditionDropout;
    if (p === 0) return captions;
    const g = this.generators.diffusion;
    return captions.map((caption) => (g.uniform() < p ? '' : caption));
  }

  private nextBatch(): { latents: Tensor; labels: number[] | null; captions: string[] } {
    const { images, labels, captions } = this.loader.batch(this.epoch, this.batch);
    this.batch += 1;
    if (this.batch >= this.loader.length) {
      this.epoch += 1;
      this.batch = 0;
    }
    return { latents: images, labels: labels ?? null, captions: captions ?? [] };
  }

  private report(result: LdmStepResult): void {
    const { seconds, samples, steps } = this.session;
    this.progress.step({
      step: this.step,
      totalSteps: this.settings.steps,
      values: { loss: result.loss },
      imagesPerSecond: samples / seconds,
      etaSeconds: ((this.settings.steps - this.step) * seconds) / steps,
    });
  }
}

/** Rows of a text model's preview grid: the first caption of examples spread over the data. */
function previewPrompts(captions: readonly (string | string[])[]): string[] {
  const rows = Math.min(PREVIEW_PROMPTS, captions.length);
  return Array.from({ length: rows }, (_, row) => {
    const caption = captions[Math.floor((row * captions.length) / rows)];
    return typeof caption === 'string' ? caption : caption[0];
  });
}

/** The config's scheduler_config (LambdaLinearScheduler), as a factor on the learning rate. */
function lrScheduleOf(config: LdmTrainingConfig): LRSchedule | null {
  const node = config.model.params.scheduler_config;
  if (node === null) return null;
  const target = String(node.target ?? '');
  if (!target.endsWith('LambdaLinearScheduler')) {
    throw new Error(`${config.source}: scheduler_config target "${target}" is not supported (LambdaLinearScheduler)`);
  }
  const p = (node.params ?? {}) as Record<string, number[]>;
  return lambdaLinearSchedule({
    warmUpSteps: p.warm_up_steps,
    fStart: p.f_start,
    fMax: p.f_max,
    fMin: p.f_min,
    cycleLengths: p.cycle_lengths,
  });
}
