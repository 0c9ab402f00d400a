// `ldm sample` and `ldm generate`: images from a trained latent diffusion model, as one grid PNG
// or one PNG per image, with the settings written into each PNG's text chunks. `generate` is
// `sample` with the bundled MNIST model as its default --model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SAMPLER_NAMES, type SamplerName } from '../diffusion/index.js';
import { saveImage } from '../io/image.js';
import { packageRoot } from '../io/package-files.js';
import { loadLdmWeights } from '../models/ldm/checkpoint.js';
import { WordPieceTokenizer } from '../models/encoders/wordpiece-tokenizer.js';
import { classGridLabels, DEFAULT_SAMPLER, DEFAULT_STEPS, generate } from '../pipelines/generate.js';
import { setNumThreads } from '../tensor/device.js';
import { ldmWeightsFile } from '../train/ldm-checkpoint.js';
import { TerminalProgress } from '../train/progress.js';
import {
  countOption,
  flagOption,
  numberOption,
  requireOption,
  stringOption,
  UsageError,
  type CommandSpec,
  type OptionSpec,
  type ParsedArgs,
} from './args.js';
import type { Command } from './command.js';

/** The models `ldm generate` uses unless told otherwise (see weights/README.md): class labels, and prompts. */
export const BUNDLED_MODEL = 'weights/mnist-class-f4.safetensors';
export const BUNDLED_TEXT_MODEL = 'weights/emoji-text-f4.safetensors';

const SAMPLING_OPTIONS: OptionSpec[] = [
  {
    name: 'n',
    kind: 'integer',
    value: '<n>',
    description: 'Images to make (default 16; with --class: 1 for generate)',
  },
  { name: 'class', kind: 'integer', value: '<k>', description: 'Class of every image (class-conditional models)' },
  { name: 'prompt', kind: 'string', value: '<text>', description: 'Prompt of every image (text-to-image models)' },
  {
    name: 'prompts',
    kind: 'string',
    value: '<a;b;...>',
    description: 'Several prompts separated by ";": a grid with one row of --n images (default 8) each',
  },
  {
    name: 'negative-prompt',
    kind: 'string',
    value: '<text>',
    description: 'What guidance steers away from (text models; default the empty caption)',
  },
  {
    name: 'vocab',
    kind: 'string',
    value: '<vocab.txt>',
    description: "A BERT vocab.txt for text models whose file carries no tokenizer (e.g. CompVis')",
  },
  {
    name: 'sampler',
    kind: 'string',
    value: '<name>',
    choices: SAMPLER_NAMES,
    description: `Sampler (default ${DEFAULT_SAMPLER})`,
  },
  { name: 'steps', kind: 'integer', value: '<n>', description: `Sampler steps (default ${DEFAULT_STEPS}; ddpm: all)` },
  { name: 'eta', kind: 'number', value: '<x>', description: 'DDIM eta: 0 deterministic (default), 1 like DDPM' },
  {
    name: 'guidance',
    kind: 'number',
    value: '<s>',
    description: 'Classifier-free guidance scale (default 3 for models trained for it, else 1 = none)',
  },
  { name: 'seed', kind: 'integer', value: '<n>', description: 'Seed (default 0): the same seed gives the same images' },
  { name: 'output', short: 'o', kind: 'string', value: '<file.png>', description: 'Output PNG (default samples.png)' },
  { name: 'separate', kind: 'boolean', description: 'One PNG per image (<output>-0000.png, ...) instead of a grid' },
  { name: 'nrow', kind: 'integer', value: '<n>', description: 'Images per grid row (default 8, or one row per class)' },
  {
    name: 'weights',
    kind: 'string',
    value: '<auto|ema|trained>',
    choices: ['auto', 'ema', 'trained'],
    description: 'In a run directory: EMA or trained weights (default auto: EMA when kept)',
  },
  { name: 'batch-size', kind: 'integer', value: '<n>', description: 'Images sampled at once (default 16)' },
  { name: 'threads', kind: 'integer', value: '<n>', description: 'Compute threads (default: all cores)' },
];

const MODEL_OPTION: OptionSpec = {
  name: 'model',
  kind: 'string',
  value: '<dir|ckpt>',
  description: 'A train run directory, checkpoint directory or .safetensors weights',
};

async function runSampling(
  args: ParsedArgs,
  command: string,
  modelLocation: string,
  defaultN: number,
): Promise<number> {
  const threads = countOption(args, 'threads', 1, command);
  if (threads !== undefined) setNumThreads(threads);
  const file = ldmWeightsFile(modelLocation, stringOption(args, 'weights') as 'auto' | undefined);
  const vocab = stringOption(args, 'vocab');
  const tokenizer = vocab === undefined ? undefined : WordPieceTokenizer.fromVocab(readVocab(vocab, command));
  const { ldm } = loadLdmWeights(file, { tokenizer });
  const prompt = stringOption(args, 'prompt') ?? args.positionals[0];
  const promptRows = stringOption(args, 'prompts')
    ?.split(';')
    .map((text) => text.trim())
    .filter((text) => text.length > 0);
  if (prompt !== undefined && promptRows !== undefined)
    throw new UsageError(`${command}: give one prompt or --prompts, not both`);
  if (promptRows?.length === 0) throw new UsageError(`${command}: --prompts holds no prompt`);
  const negativePrompt = stringOption(args, 'negative-prompt');
  if (ldm.textEncoder !== null) {
    if (prompt === undefined && promptRows === undefined)
      throw new UsageError(`${command}: ${file} is a text-to-image model; give a prompt`);
    if (ldm.textEncoder.tokenizer === null) {
      throw new UsageError(`${command}: ${file} carries no tokenizer; give its vocabulary with --vocab <vocab.txt>`);
    }
  } else if (prompt !== undefined || promptRows !== undefined || negativePrompt !== undefined) {
    const kind = ldm.numClasses === null ? 'unconditional' : 'class-conditional (use --class)';
    throw new UsageError(`${command}: ${file} is ${kind}; it takes no prompt`);
  }
  const classes = ldm.numClasses;
  const classLabel = countOption(args, 'class', 0, command);
  if (classLabel !== undefined && classes === null) {
    throw new UsageError(`${command}: ${file} is not class-conditional; --class does not apply`);
  }
  if (classLabel !== undefined && classes !== null && classLabel >= classes) {
    throw new UsageError(
      `${command}: --class ${classLabel} is out of range; the model knows classes 0..${classes - 1}`,
    );
  }
  const perClassGrid = classes !== null && classLabel === undefined;
  const givenN = countOption(args, 'n', 1, command);
  const perPrompt = givenN ?? 8;
  const n =
    promptRows !== undefined ? promptRows.length * perPrompt : (givenN ?? (perClassGrid ? classes * 8 : defaultN));
  const prompts =
    promptRows === undefined ? prompt : classGridLabels(promptRows.length, perPrompt).map((row) => promptRows[row]);
  if (perClassGrid && n % classes !== 0) {
    throw new UsageError(`${command}: without --class, --n must be a multiple of the ${classes} classes (a row each)`);
  }
  const labels = classes === null ? undefined : (classLabel ?? classGridLabels(classes, n / classes));
  const sampler = (stringOption(args, 'sampler') ?? DEFAULT_SAMPLER) as SamplerName;
  const steps = countOption(args, 'steps', 1, command) ?? DEFAULT_STEPS;
  const eta = numberOption(args, 'eta') ?? 0;
  const guidance = numberOption(args, 'guidance') ?? (ldm.supportsGuidance ? 3 : 1);
  if (guidance !== 1 && !ldm.supportsGuidance) {
    throw new UsageError(
      `${command}: ${file} was not trained for classifier-free guidance (no null class); use --guidance 1`,
    );
  }
  const seed = countOption(args, 'seed', 0, command) ?? 0;
  const batchSize = countOption(args, 'batch-size', 1, command) ?? 16;
  const output = stringOption(args, 'output') ?? 'samples.png';
  const progress = new TerminalProgress({ every: 10 });
  const started = performance.now();
  const totalSteps = Math.ceil(n / batchSize) * (sampler === 'ddpm' ? ldm.schedule.numTimesteps : steps);
  let done = 0;
  const images = generate(ldm, {
    n,
    labels,
    prompts,
    negativePrompts: negativePrompt,
    sampler,
    steps,
    eta,
    guidance,
    seed,
    batchSize,
    onStep: () => {
      done += 1;
      const seconds = (performance.now() - started) / 1000;
      progress.step({
        step: done,
        totalSteps,
        values: {},
        imagesPerSecond: NaN,
        etaSeconds: ((totalSteps - done) * seconds) / done,
      });
    },
  });
  progress.close();
  const seconds = (performance.now() - started) / 1000;
  const text: Record<string, string> = {
    Software: 'latent-diffusion',
    model: file,
    sampler,
    steps: sampler === 'ddpm' ? String(ldm.schedule.numTimesteps) : String(steps),
    eta: String(eta),
    guidance: String(guidance),
    seed: String(seed),
  };
  if (classLabel !== undefined) text.class = String(classLabel);
  if (prompt !== undefined) text.prompt = prompt;
  if (promptRows !== undefined) text.prompts = JSON.stringify(promptRows);
  if (negativePrompt !== undefined) text['negative prompt'] = negativePrompt;
  fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
  if (flagOption(args, 'separate')) {
    const stem = output.replace(/\.png$/i, '');
    for (let i = 0; i < n; i++) {
      const name = `${stem}-${String(i).padStart(4, '0')}.png`;
      const label = Array.isArray(labels) ? labels[i] : classLabel;
      const own: Record<string, string> = { index: String(i) };
      if (label !== undefined) own.class = String(label);
      if (Array.isArray(prompts)) own.prompt = prompts[i];
      saveImage(images.slice(0, i, i + 1), name, { text: { ...text, ...own } });
    }
    console.log(`wrote ${n} images ${stem}-0000.png ... in ${seconds.toFixed(1)} s`);
  } else {
    const nrow = countOption(args, 'nrow', 1, command) ?? (perClassGrid ? n / classes : promptRows ? perPrompt : 8);
    saveImage(images, output, { nrow, text });
    console.log(
      `wrote ${output} (${n} images, ${sampler} ${text.steps} steps, guidance ${guidance}) in ${seconds.toFixed(1)} s`,
    );
  }
  return 0;
}

function readVocab(file: string, command: string): string {
  if (!fs.existsSync(file)) throw new UsageError(`${command}: --vocab ${file} does not exist`);
  return fs.readFileSync(file, 'utf8');
}

const sampleSpec: CommandSpec = {
  name: 'sample',
  summary: 'Sample images from a trained latent diffusion model.',
  usage:
    '--model <dir|ckpt> [--n 16] [--class K | --prompt "text"] [--negative-prompt "text"] [--sampler ddim] ' +
    '[--steps 50] [--guidance 3] [--seed 0] [-o out.png]',
  details: [
    `Samplers: ${SAMPLER_NAMES.join(', ')} (DDPM takes all of the schedule's steps). A class-conditional model ` +
      'without --class gives one row per class; a text-to-image model takes --prompt, and guidance contrasts ' +
      'it with --negative-prompt (default the empty caption). The PNG text chunks hold the model, sampler, ' +
      'steps, eta, guidance, seed, and class or prompts.',
  ],
  options: [MODEL_OPTION, ...SAMPLING_OPTIONS],
  positionals: { min: 0, max: 0, name: '' },
  examples: [
    'ldm sample --model runs/mnist-ldm --n 16 --class 3 --sampler ddim --steps 50 --guidance 3 --seed 0 -o threes.png',
    'ldm sample --model runs/mnist-ldm --sampler dpm++2m --steps 20 -o grid.png',
    'ldm sample --model runs/emoji-t2i --prompt "blue heart" --negative-prompt "red" --n 8 -o hearts.png',
  ],
};

const generateSpec: CommandSpec = {
  name: 'generate',
  summary: 'Generate images with the bundled models (ldm generate --class 7 -o seven.png; ldm generate "blue heart").',
  usage: '["prompt"] [--class K] [-o out.png] [--model <dir|ckpt>] [sampling options]',
  details: [
    `Without --model, a prompt goes to ${BUNDLED_TEXT_MODEL}, a text-to-image LDM trained on the emoji set, ` +
      `and anything else to ${BUNDLED_MODEL}, a class-conditional LDM trained on MNIST; both were trained by ` +
      'this package over KL f=4 autoencoders (weights/README.md says how to reproduce them). Without --class ' +
      'the MNIST model draws one row per class. The prompt is the argument or --prompt. Options as for ldm sample.',
  ],
  options: [
    { ...MODEL_OPTION, description: `${MODEL_OPTION.description} (default: the bundled ${BUNDLED_MODEL})` },
    ...SAMPLING_OPTIONS,
  ],
  positionals: { min: 0, max: 1, name: '"prompt"' },
  examples: [
    'ldm generate --class 7 -o seven.png',
    'ldm generate --n 40 --seed 3 -o digits.png',
    'ldm generate "cat face with glasses" --n 4 -o cats.png',
  ],
};

export const sampleCommand: Command = {
  spec: sampleSpec,
  run: (args) => runSampling(args, 'sample', requireOption(args, 'model', 'sample'), 16),
};

function bundledModel(args: ParsedArgs): string {
  const prompted = stringOption(args, 'prompt') !== undefined || args.positionals.length > 0;
  return prompted ? BUNDLED_TEXT_MODEL : BUNDLED_MODEL;
}

export const generateCommand: Command = {
  spec: generateSpec,
  run: (args) =>
    runSampling(args, 'generate', stringOption(args, 'model') ?? path.join(packageRoot(), bundledModel(args)), 1),
};
