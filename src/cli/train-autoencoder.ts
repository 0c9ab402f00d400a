// `ldm train-autoencoder`: parse, build or resume an AutoencoderTrainer, run it, print the outcome.
import { DATA_SPECS } from '../data/spec.js';
import { AutoencoderTrainer } from '../train/autoencoder-trainer.js';
import { resolveAutoencoderConfig } from '../train/autoencoder-config.js';
import { TerminalProgress } from '../train/progress.js';
import {
  countOption,
  flagOption,
  numberOption,
  requireOption,
  stringOption,
  type CommandSpec,
  type ParsedArgs,
} from './args.js';
import type { Command } from './command.js';
import { runWithInterrupt } from './interrupt.js';
import { defined, readTrainingOptions, rejectFixedOnResume, reportResume, runOptions } from './training-run.js';

const NAME = 'train-autoencoder';
const DEFAULT_STEPS = 10000;
const DEFAULT_EMA_DECAY = 0.9999;

/** Options that fix a run's arithmetic: a resumed run takes them from its checkpoint. */
const FIXED_ON_RESUME = ['config', 'batch-size', 'lr', 'seed', 'accumulate', 'ema', 'ema-decay', 'flip'];

const spec: CommandSpec = {
  name: NAME,
  summary: 'Train a first-stage autoencoder (KL or VQ) with its PatchGAN discriminator.',
  usage:
    '--config <yaml|preset> --data <spec> --out <dir> [options]\n       ldm train-autoencoder --resume <dir|ckpt> [--steps N]',
  details: [
    "Two Adam optimizers (betas 0.5, 0.9), the autoencoder's and the discriminator's, step alternately once per " +
      'batch, at lr = base_learning_rate x batch size x --accumulate unless --lr is given. Presets: ' +
      'cpu/kl-f4-32px-1ch, cpu/kl-f4-32px-3ch, kl-f8, ... (configs/autoencoder/README.md). Data: ' +
      `${DATA_SPECS.join(', ')}.`,
    'Outputs under --out: checkpoints/step-NNNNNN/ (model.safetensors, ema.safetensors with --ema, ' +
      'optimizers.safetensors, trainer.json), last (names the newest complete checkpoint), log.jsonl, ' +
      'samples/step-NNNNNN.png (inputs above, reconstructions below). Held-out PSNR and SSIM are computed ' +
      'at each checkpoint and at the end. Ctrl-C (or SIGTERM) saves a checkpoint and exits (code 130); --resume ' +
      'continues exactly where the run stopped.',
  ],
  options: [
    {
      name: 'config',
      kind: 'string',
      value: '<yaml|preset>',
      description: 'Config file (CompVis layout) or preset name',
    },
    ...runOptions(DEFAULT_STEPS),
    {
      name: 'batch-size',
      kind: 'integer',
      value: '<n>',
      description: "Batch size (default: the config's data.params.batch_size)",
    },
    {
      name: 'lr',
      kind: 'number',
      value: '<x>',
      description: 'Learning rate of both optimizers (default: scaled base_learning_rate)',
    },
    {
      name: 'seed',
      kind: 'integer',
      value: '<n>',
      description: 'Seed of initialisation, data order and sampling (default 0)',
    },
    {
      name: 'accumulate',
      kind: 'integer',
      value: '<n>',
      description: 'Batches whose gradients make one step (default 1)',
    },
    {
      name: 'ema',
      kind: 'boolean',
      description: `Keep an EMA of the weights (decay ${DEFAULT_EMA_DECAY}); used for eval and samples`,
    },
    { name: 'ema-decay', kind: 'number', value: '<x>', description: 'EMA decay (implies --ema)' },
    { name: 'flip', kind: 'boolean', description: 'Mirror training images at random' },
    {
      name: 'checkpoint-every',
      kind: 'integer',
      value: '<n>',
      description: 'Steps between checkpoints; 0: only at the end (default 1000)',
    },
    {
      name: 'sample-every',
      kind: 'integer',
      value: '<n>',
      description: 'Steps between sample grids; 0: only at the end (default 500)',
    },
    {
      name: 'log-every',
      kind: 'integer',
      value: '<n>',
      description: 'Steps between log.jsonl records and plain progress lines (default 10)',
    },
    { name: 'eval-samples', kind: 'integer', value: '<n>', description: 'Held-out images for PSNR/SSIM (default 256)' },
    {
      name: 'keep-checkpoints',
      kind: 'integer',
      value: '<n>',
      description: 'Keep only the newest n checkpoints (default: all)',
    },
    { name: 'threads', kind: 'integer', value: '<n>', description: 'Compute threads (default: all cores)' },
  ],
  positionals: { min: 0, max: 0, name: '' },
  examples: [
    'ldm train-autoencoder --config cpu/kl-f4-32px-1ch --data mnist --out runs/mnist-kl --steps 2000',
    'ldm train-autoencoder --config my.yaml --data folder:./photos --out runs/photos --ema --accumulate 4',
    'ldm train-autoencoder --resume runs/mnist-kl --steps 4000',
  ],
};

async function run(args: ParsedArgs): Promise<number> {
  const intervals = {
    ...readTrainingOptions(args, NAME),
    evalSamples: countOption(args, 'eval-samples', 1, NAME),
  };
  const progress = new TerminalProgress({ every: intervals.logEvery ?? 10 });
  const resume = stringOption(args, 'resume');
  let trainer: AutoencoderTrainer;
  if (resume !== undefined) {
    rejectFixedOnResume(args, FIXED_ON_RESUME, NAME);
    trainer = AutoencoderTrainer.resume(resume, {
      ...defined(intervals),
      data: stringOption(args, 'data'),
      outDir: stringOption(args, 'out'),
      progress,
    });
    if (!reportResume(trainer)) return 0;
  } else {
    const config = resolveAutoencoderConfig(requireOption(args, 'config', NAME));
    const emaDecay = numberOption(args, 'ema-decay') ?? (flagOption(args, 'ema') ? DEFAULT_EMA_DECAY : null);
    trainer = AutoencoderTrainer.create({
      config,
      data: requireOption(args, 'data', NAME),
      outDir: requireOption(args, 'out', NAME),
      steps: intervals.steps ?? DEFAULT_STEPS,
      batchSize: countOption(args, 'batch-size', 1, NAME),
      learningRate: numberOption(args, 'lr'),
      accumulate: countOption(args, 'accumulate', 1, NAME),
      seed: countOption(args, 'seed', 0, NAME),
      emaDecay,
      randomFlip: flagOption(args, 'flip'),
      ...defined({ ...intervals, steps: undefined }),
      progress,
    });
    const { settings, model } = trainer;
    console.log(
      `training ${config.model.target.split('.').pop()} (${model.numParameters().toLocaleString('en-US')} parameters) ` +
        `on ${settings.data}: ${settings.steps} steps of batch ${settings.batchSize} x ${settings.accumulate}, ` +
        `lr ${settings.learningRate}, into ${trainer.outDir}`,
    );
  }
  const result = await runWithInterrupt(progress, (signal) => trainer.run({ signal }));
  if (result.reason === 'interrupted') {
    console.log(`resume with: ldm ${NAME} --resume ${trainer.outDir}`);
    return 130;
  }
  const metrics = result.metrics;
  const quality =
    metrics === null
      ? ''
      : `; held-out PSNR ${metrics.psnr.toFixed(2)} dB` +
        (metrics.ssim === null ? '' : `, SSIM ${metrics.ssim.toFixed(4)}`);
  console.log(`done at step ${result.step}: ${result.checkpoint}${quality}`);
  return 0;
}

export const trainAutoencoderCommand: Command = { spec, run };
