// `ldm train`: parse, build or resume a latent diffusion trainer, run it, print the outcome.
import type { CaptionChoice } from '../data/loader.js';
import { DATA_SPECS } from '../data/spec.js';
import { resolveLdmConfig } from '../train/ldm-config.js';
import { createLdmTrainer, resumeLdmTrainer } from '../train/ldm-setup.js';
import type { LdmTrainer } from '../train/ldm-trainer.js';
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
import { SAMPLER_NAMES } from '../diffusion/index.js';
import { runWithInterrupt } from './interrupt.js';
import { defined, readTrainingOptions, rejectFixedOnResume, reportResume, runOptions } from './training-run.js';

const NAME = 'train';
const DEFAULT_STEPS = 10000;

/** Options that fix a run's arithmetic: a resumed run takes them from its checkpoint. */
const FIXED_ON_RESUME = [
  'config',
  'autoencoder',
  'data',
  'batch-size',
  'lr',
  'seed',
  'no-ema',
  'ema-decay',
  'flip',
  'cond-dropout',
  'captions',
  'latents',
];

const spec: CommandSpec = {
  name: NAME,
  summary: 'Train a latent diffusion U-Net on the latents of a trained autoencoder.',
  usage:
    '--config <yaml|preset> --autoencoder <dir|ckpt> --data <spec> --out <dir> [options]\n' +
    '       ldm train --resume <dir|ckpt> [--steps N]',
  details: [
    'The autoencoder (a train-autoencoder run or its weights) stays frozen: its latents of the whole training ' +
      'set are computed once and cached in <out>/latents.safetensors (KL models: the posterior moments, sampled ' +
      'afresh at each use). AdamW at lr = base_learning_rate x batch size unless --lr is given; an EMA of the ' +
      "U-Net (decay 0.9999, LitEma warm-up) when the config's use_ema (default). Class-conditional models train " +
      'with the condition dropped to the null class at the rate ucg_rate of the config, for classifier-free ' +
      'guidance. A config whose first_stage_config is IdentityFirstStage trains in pixel space (f = 1) and ' +
      'takes no --autoencoder. Presets: cpu/mnist-class-f4, ... (configs/ldm/README.md). Data: ' +
      `${DATA_SPECS.join(', ')}.`,
    'Outputs under --out: checkpoints/step-NNNNNN/ (model.safetensors, ema.safetensors, optimizer.safetensors, ' +
      'trainer.json), last, log.jsonl, samples/step-NNNNNN.png (one row per class, DDIM). Ctrl-C saves a ' +
      'checkpoint and exits (code 130); --resume continues exactly where the run stopped.',
  ],
  options: [
    { name: 'config', kind: 'string', value: '<yaml|preset>', description: 'LDM config (CompVis layout) or preset' },
    {
      name: 'autoencoder',
      kind: 'string',
      value: '<dir|ckpt>',
      description: 'The first stage: a train-autoencoder run, checkpoint or weights (none for pixel space)',
    },
    ...runOptions(DEFAULT_STEPS),
    { name: 'batch-size', kind: 'integer', value: '<n>', description: "Batch size (default: the config's)" },
    { name: 'lr', kind: 'number', value: '<x>', description: 'Learning rate (default: scaled base_learning_rate)' },
    {
      name: 'seed',
      kind: 'integer',
      value: '<n>',
      description: 'Seed of initialisation, data order and noise (default 0)',
    },
    { name: 'no-ema', kind: 'boolean', description: 'Keep no EMA of the U-Net' },
    { name: 'ema-decay', kind: 'number', value: '<x>', description: 'EMA decay (default 0.9999)' },
    {
      name: 'cond-dropout',
      kind: 'number',
      value: '<p>',
      description: "Condition dropout (default: the config's ucg_rate)",
    },
    { name: 'flip', kind: 'boolean', description: 'Also encode mirrored images and use either at random' },
    {
      name: 'latents',
      kind: 'string',
      value: '<file>',
      description: 'Latent cache file (default <out>/latents.safetensors)',
    },
    {
      name: 'checkpoint-every',
      kind: 'integer',
      value: '<n>',
      description: 'Steps between checkpoints (default 1000)',
    },
    {
      name: 'sample-every',
      kind: 'integer',
      value: '<n>',
      description: 'Steps between sample grids; 0: only at the end (default 1000)',
    },
    {
      name: 'sample-sampler',
      kind: 'string',
      value: '<name>',
      choices: SAMPLER_NAMES,
      description: 'Sampler of the sample grids (default ddim)',
    },
    {
      name: 'sample-steps',
      kind: 'integer',
      value: '<n>',
      description: 'Sampler steps of the sample grids (default 50)',
    },
    {
      name: 'sample-guidance',
      kind: 'number',
      value: '<s>',
      description: 'Guidance of the sample grids (default 3, or 1)',
    },
    {
      name: 'sample-prompts',
      kind: 'string',
      value: '<a;b;...>',
      description: 'Text models: the prompts of the sample grids, one row each (default: 8 training captions)',
    },
    {
      name: 'log-every',
      kind: 'integer',
      value: '<n>',
      description: 'Steps between log records and plain progress lines (default 10)',
    },
    { name: 'keep-checkpoints', kind: 'integer', value: '<n>', description: 'Keep only the newest n checkpoints' },
    {
      name: 'captions',
      kind: 'string',
      value: '<combine|random|first>',
      choices: ['combine', 'random', 'first'],
      description:
        "Text models: each step's caption from an image's candidates (default combine for emoji, else random)",
    },
    {
      name: 'time-limit',
      kind: 'number',
      value: '<minutes>',
      description: 'Stop after this much training time (previews and checkpoints not counted) and save',
    },
    { name: 'threads', kind: 'integer', value: '<n>', description: 'Compute threads (default: all cores)' },
  ],
  positionals: { min: 0, max: 0, name: '' },
  examples: [
    'ldm train --config cpu/mnist-class-f4 --autoencoder runs/mnist-kl-f4 --data mnist --out runs/mnist-ldm --steps 6000',
    'ldm train --resume runs/mnist-ldm --steps 8000',
  ],
};

async function run(args: ParsedArgs): Promise<number> {
  const intervals = readTrainingOptions(args, NAME);
  const progress = new TerminalProgress({ every: intervals.logEvery ?? 10 });
  const resume = stringOption(args, 'resume');
  let trainer: LdmTrainer;
  if (resume !== undefined) {
    rejectFixedOnResume(args, FIXED_ON_RESUME, NAME);
    trainer = resumeLdmTrainer(resume, { ...defined(intervals), progress });
    if (!reportResume(trainer)) return 0;
  } else {
    const config = resolveLdmConfig(requireOption(args, 'config', NAME));
    const prompts = stringOption(args, 'sample-prompts');
    const preview = defined({
      prompts: prompts?.split(';').map((prompt) => prompt.trim()),
      sampler: stringOption(args, 'sample-sampler'),
      steps: countOption(args, 'sample-steps', 1, NAME),
      guidance: numberOption(args, 'sample-guidance'),
    });
    trainer = createLdmTrainer({
      config,
      autoencoder: stringOption(args, 'autoencoder'),
      data: requireOption(args, 'data', NAME),
      outDir: requireOption(args, 'out', NAME),
      steps: intervals.steps ?? DEFAULT_STEPS,
      batchSize: countOption(args, 'batch-size', 1, NAME),
      learningRate: numberOption(args, 'lr'),
      seed: countOption(args, 'seed', 0, NAME),
      emaDecay: flagOption(args, 'no-ema') ? null : numberOption(args, 'ema-decay'),
      conditionDropout: numberOption(args, 'cond-dropout'),
      randomFlip: flagOption(args, 'flip'),
      captionChoice: stringOption(args, 'captions') as CaptionChoice | undefined,
      latents: stringOption(args, 'latents'),
      preview,
      ...defined({ ...intervals, steps: undefined }),
      progress,
    });
    const { settings, ldm } = trainer;
    console.log(
      `training the U-Net (${ldm.model.numParameters().toLocaleString('en-US')} parameters) on latents ` +
        `${ldm.latentShape.join(' x ')} of ${settings.data}: ${settings.steps} steps of batch ${settings.batchSize}, ` +
        `lr ${settings.learningRate}, scale_factor ${ldm.scaleFactor.toPrecision(6)}, into ${trainer.outDir}`,
    );
  }
  const minutes = numberOption(args, 'time-limit');
  if (minutes !== undefined && !(minutes > 0))
    throw new Error(`ldm ${NAME}: --time-limit must be > 0 minutes, got ${minutes}`);
  const timeLimitSeconds = minutes === undefined ? undefined : minutes * 60;
  const result = await runWithInterrupt(progress, (signal) => trainer.run({ signal, timeLimitSeconds }));
  if (result.reason === 'interrupted') {
    console.log(`resume with: ldm ${NAME} --resume ${trainer.outDir}`);
    return 130;
  }
  console.log(`done at step ${result.step}: ${result.checkpoint}`);
  return 0;
}

export const trainCommand: Command = { spec, run };
