// `ldm eval`: the download-free quality check of a class-conditional or text-to-image model.
// Trains (once, then cached) a small classifier on the labelled data, samples every class (or the
// held-out captions) with each sampler setting, and prints accuracy under the classifier and the
// Frechet distance in its feature space.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SAMPLER_NAMES } from '../diffusion/index.js';
import { loadOrTrainClassifier } from '../eval/index.js';
import { loadLdmWeights } from '../models/ldm/checkpoint.js';
import type { LatentDiffusion } from '../models/ldm/latent-diffusion.js';
import {
  evaluateClassConditional,
  parseSamplerSettings,
  type EvaluationOptions,
  type EvaluationRow,
} from '../pipelines/evaluate.js';
import { evaluateTextConditional } from '../pipelines/evaluate-text.js';
import { setNumThreads } from '../tensor/device.js';
import { ldmWeightsFile } from '../train/ldm-checkpoint.js';
import { TerminalProgress } from '../train/progress.js';
import { openTrainingData } from '../train/training-data.js';
import {
  countOption,
  numberOption,
  requireOption,
  stringOption,
  UsageError,
  type CommandSpec,
  type ParsedArgs,
} from './args.js';
import type { Command } from './command.js';

const NAME = 'eval';

const spec: CommandSpec = {
  name: NAME,
  summary:
    'Judge a class-conditional or text-to-image model with a classifier trained here: accuracy and Frechet distance.',
  usage:
    '--model <dir|ckpt> --data <spec> [--samplers ddim:50,plms:50] [--per-class 50 | --per-prompt 1 --prompts N] ' +
    '[--guidance 3]',
  details: [
    'The classifier (a small CNN trained on the training split, about a minute for MNIST) is cached at ' +
      '--classifier, by default under $XDG_CACHE_HOME/latent-diffusion (or ~/.cache/latent-diffusion), and ' +
      'reused. For each sampler setting, --per-class samples of every class are drawn; the table gives the share ' +
      'the classifier assigns to the class asked for, and the Frechet distance between the samples and ' +
      '--reference real training images in the classifier feature space. The first row measures as many ' +
      'held-out real images the same way: the distance that a finite sample alone leaves.',
    'A text-to-image model is judged on the held-out split instead (the data must give captions and labels, ' +
      "e.g. emoji: its category): each held-out image gives a prompt, its first caption (an emoji's name), and " +
      "--per-prompt samples are drawn from it; accuracy is the share classified as that image's label. Rows: " +
      '"held-out real images" are the held-out images themselves (the reference: what the real thing scores); ' +
      'one row per sampler setting with the held-out prompts; "empty prompt" samples the first setting with ' +
      "the prompt '' and scores them against the same labels: what the model reaches without reading the text. " +
      '--prompts takes that many held-out images, spread evenly over the split. The Frechet distance grows as ' +
      'the number of images shrinks: compare rows with the same n.',
  ],
  options: [
    { name: 'model', kind: 'string', value: '<dir|ckpt>', description: 'A train run directory, checkpoint or weights' },
    {
      name: 'data',
      kind: 'string',
      value: '<spec>',
      description: 'The labelled data the model learned (e.g. mnist, emoji)',
    },
    {
      name: 'samplers',
      kind: 'string',
      value: '<list>',
      description: `sampler:steps, comma-separated (default ddim:50; samplers: ${SAMPLER_NAMES.join(', ')})`,
    },
    { name: 'per-class', kind: 'integer', value: '<n>', description: 'Samples per class (default 50)' },
    {
      name: 'per-prompt',
      kind: 'integer',
      value: '<n>',
      description: 'Samples per held-out prompt (text models; default 1)',
    },
    {
      name: 'prompts',
      kind: 'integer',
      value: '<n>',
      description: 'Held-out prompts used (text models; default all)',
    },
    { name: 'guidance', kind: 'number', value: '<s>', description: 'Guidance scale (default 3 when trained for it)' },
    { name: 'seed', kind: 'integer', value: '<n>', description: 'Seed (default 0)' },
    { name: 'batch-size', kind: 'integer', value: '<n>', description: 'Images sampled at once (default 50)' },
    {
      name: 'reference',
      kind: 'integer',
      value: '<n>',
      description: 'Real training images of the reference (default 2000)',
    },
    {
      name: 'classifier',
      kind: 'string',
      value: '<file>',
      description: 'Classifier cache file (trained when missing)',
    },
    {
      name: 'classifier-steps',
      kind: 'integer',
      value: '<n>',
      description: 'Training steps of a new classifier (default: its full budget)',
    },
    { name: 'json', kind: 'string', value: '<file>', description: 'Also write the rows as JSON' },
    { name: 'threads', kind: 'integer', value: '<n>', description: 'Compute threads (default: all cores)' },
  ],
  positionals: { min: 0, max: 0, name: '' },
  examples: [
    'ldm eval --model runs/mnist-ldm --data mnist --samplers ddpm:1000,ddim:50,ddim:20,plms:50,dpm++2m:20',
    'ldm eval --model runs/emoji-t2i --data emoji --samplers ddim:50 --guidance 3 --prompts 100',
  ],
};

function defaultClassifierFile(data: string, channels: number, size: number): string {
  const root = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  const name = data.replace(/[^A-Za-z0-9_-]+/g, '_');
  return path.join(root, 'latent-diffusion', `classifier-${name}-${channels}x${size}.safetensors`);
}

async function run(args: ParsedArgs): Promise<number> {
  const threads = countOption(args, 'threads', 1, NAME);
  if (threads !== undefined) setNumThreads(threads);
  const file = ldmWeightsFile(requireOption(args, 'model', NAME));
  const { ldm } = loadLdmWeights(file);
  const counts = sampleCounts(ldm, args, file);
  const data = requireOption(args, 'data', NAME);
  const size = ldm.imageSize;
  const channels = ldm.imageChannels;
  const splits = openTrainingData(data, size, channels);
  if (splits.test === null) throw new Error(`${data} has no held-out split: ${splits.testUnavailable ?? ''}`);
  // Before the classifier's training: a text model is judged on held-out captions.
  if (ldm.textEncoder !== null && splits.test.get(0).caption === undefined) {
    throw new UsageError(`${NAME}: ${file} is a text-to-image model, but ${splits.test.name} has no captions`);
  }
  if (counts.limit !== undefined && counts.limit > splits.test.length) {
    throw new UsageError(`${NAME}: --prompts ${counts.limit}, but ${splits.test.name} holds ${splits.test.length}`);
  }
  const classifierFile = stringOption(args, 'classifier') ?? defaultClassifierFile(data, channels, size);
  fs.mkdirSync(path.dirname(classifierFile), { recursive: true });
  const { classifier, testAccuracy, trained } = loadOrTrainClassifier(classifierFile, splits.train, splits.test, {
    steps: countOption(args, 'classifier-steps', 1, NAME),
    log: (line: string) => console.log(line),
  });
  console.log(
    `classifier ${classifierFile} (${trained ? 'trained now' : 'cached'}): held-out accuracy ${(100 * testAccuracy).toFixed(2)}%`,
  );
  const settings = parseSamplerSettings(stringOption(args, 'samplers') ?? 'ddim:50', SAMPLER_NAMES);
  const guidance = numberOption(args, 'guidance') ?? (ldm.supportsGuidance ? 3 : 1);
  const progress = new TerminalProgress({ every: 50 });
  let rowStarted = performance.now();
  const options: EvaluationOptions = {
    guidance,
    seed: countOption(args, 'seed', 0, NAME),
    batchSize: countOption(args, 'batch-size', 1, NAME),
    referenceCount: countOption(args, 'reference', 2, NAME),
    onRow: ({ name, phase, row }) => {
      if (phase === 'start') progress.message(`${name}: sampling and measuring`);
      else if (row !== undefined) {
        progress.close();
        console.log(formatRow(row));
      }
    },
    onStep: (done, total) => {
      if (done === 1) rowStarted = performance.now();
      const seconds = (performance.now() - rowStarted) / 1000;
      const etaSeconds = done > 1 ? ((total - done) * seconds) / (done - 1) : NaN;
      progress.step({ step: done, totalSteps: total, values: {}, imagesPerSecond: NaN, etaSeconds });
    },
  };
  const datasets = { train: splits.train, test: splits.test };
  const rows =
    ldm.textEncoder === null
      ? evaluateClassConditional(ldm, classifier, datasets, settings, { ...options, perClass: counts.perClass })
      : evaluateTextConditional(ldm, classifier, datasets, settings, { ...options, ...counts });
  console.log(`\nmodel ${file}, guidance ${guidance}\n`);
  console.log('| images | n | accuracy | class-balanced accuracy | Frechet distance | seconds |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    const percent = (share: number): string => `${(100 * share).toFixed(1)}%`;
    console.log(
      `| ${row.name} | ${row.images} | ${percent(row.accuracy)} | ${percent(row.balancedAccuracy)} | ` +
        `${row.frechet.toFixed(3)} | ${row.seconds.toFixed(0)} |`,
    );
  }
  const json = stringOption(args, 'json');
  if (json !== undefined) fs.writeFileSync(json, JSON.stringify({ model: file, data, guidance, rows }, null, 2));
  return 0;
}

/**
 * --per-class of a class-conditional model, or --per-prompt and --prompts of a text model: read
 * before the classifier is trained, so that the other kind's options fail at once.
 */
function sampleCounts(
  ldm: LatentDiffusion,
  args: ParsedArgs,
  file: string,
): { perClass?: number; perPrompt?: number; limit?: number } {
  if (ldm.textEncoder !== null) {
    if (args.options.has('per-class')) {
      throw new UsageError(`${NAME}: ${file} is a text-to-image model; give --per-prompt, not --per-class`);
    }
    if (ldm.textEncoder.tokenizer === null) throw new UsageError(`${NAME}: ${file} carries no tokenizer`);
    return { perPrompt: countOption(args, 'per-prompt', 1, NAME), limit: countOption(args, 'prompts', 2, NAME) };
  }
  const textOption = ['per-prompt', 'prompts'].find((name) => args.options.has(name));
  if (textOption !== undefined) {
    throw new UsageError(`${NAME}: --${textOption} is for text-to-image models; ${file} is not one`);
  }
  if (ldm.numClasses === null) {
    throw new UsageError(`${NAME}: ${file} is unconditional; eval judges class-conditional and text-to-image models`);
  }
  return { perClass: countOption(args, 'per-class', 1, NAME) };
}

function formatRow(row: EvaluationRow): string {
  return `${row.name}: accuracy ${(100 * row.accuracy).toFixed(1)}%, Frechet distance ${row.frechet.toFixed(3)} (${row.images} images, ${row.seconds.toFixed(0)} s)`;
}

export const evalCommand: Command = { spec, run };
