// `ldm reconstruct`, `ldm encode` and `ldm decode`: a trained first stage applied to files.
import { Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import {
  decodeFile,
  encodeFiles,
  loadFirstStageModel,
  reconstructFiles,
  type LoadedFirstStage,
} from '../train/autoencoder-tools.js';
import { countOption, flagOption, requireOption, stringOption, type OptionSpec, type ParsedArgs } from './args.js';
import type { Command } from './command.js';

const MODEL_OPTIONS: OptionSpec[] = [
  {
    name: 'model',
    kind: 'string',
    value: '<ckpt>',
    description: 'Run directory, checkpoint directory or .safetensors weights',
  },
  { name: 'config', kind: 'string', value: '<yaml|preset>', description: 'Config for weight files that carry none' },
  {
    name: 'weights',
    kind: 'string',
    value: '<auto|ema|trained>',
    choices: ['auto', 'ema', 'trained'],
    description: 'EMA or trained weights (default auto: EMA when the checkpoint has them)',
  },
];

const SIZE_OPTION: OptionSpec = {
  name: 'size',
  kind: 'integer',
  value: '<px>',
  description: "Resize (shorter side) and centre-crop images to this size (default: the config's resolution)",
};

function loadModel(args: ParsedArgs, command: string): LoadedFirstStage {
  const loaded = loadFirstStageModel(requireOption(args, 'model', command), {
    config: stringOption(args, 'config'),
    weights: stringOption(args, 'weights') as 'auto' | 'ema' | 'trained' | undefined,
  });
  return loaded;
}

function describe(loaded: LoadedFirstStage): string {
  return `${loaded.model.constructor.name} from ${loaded.file}${loaded.weights === 'ema' ? ' (EMA weights)' : ''}`;
}

export const reconstructCommand: Command = {
  spec: {
    name: 'reconstruct',
    summary: 'Encode and decode images with a first-stage model; write inputs above reconstructions as one PNG.',
    usage: '--model <ckpt> <images...> [-o out.png]',
    options: [
      ...MODEL_OPTIONS,
      {
        name: 'output',
        short: 'o',
        kind: 'string',
        value: '<file.png>',
        description: 'Output PNG (default reconstruction.png)',
      },
      SIZE_OPTION,
    ],
    positionals: { min: 1, max: Infinity, name: 'images (PNG or JPEG files)' },
    examples: ['ldm reconstruct --model runs/mnist-kl digit1.png digit2.png -o recon.png'],
  },
  async run(args) {
    const loaded = loadModel(args, 'reconstruct');
    const out = stringOption(args, 'output') ?? 'reconstruction.png';
    reconstructFiles(loaded, args.positionals, out, countOption(args, 'size', 1, 'reconstruct'));
    console.log(`wrote ${out}: ${args.positionals.length} images and their reconstructions by ${describe(loaded)}`);
    return 0;
  },
};

export const encodeCommand: Command = {
  spec: {
    name: 'encode',
    summary: 'Encode images to latents [N, C, h, w] in a safetensors file (tensor "latents").',
    usage: '--model <ckpt> <images...> -o latents.safetensors',
    details: [
      'KL models give the posterior mean (--sample draws from the posterior instead); VQ models give the latent before quantisation, as an LDM diffuses it. No scale factor is applied.',
    ],
    options: [
      ...MODEL_OPTIONS,
      {
        name: 'output',
        short: 'o',
        kind: 'string',
        value: '<file>',
        description: 'Output file (default latents.safetensors)',
      },
      SIZE_OPTION,
      { name: 'sample', kind: 'boolean', description: 'KL: sample the posterior instead of taking its mean' },
      { name: 'seed', kind: 'integer', value: '<n>', description: 'Seed of --sample (default 0)' },
    ],
    positionals: { min: 1, max: Infinity, name: 'images (PNG or JPEG files)' },
    examples: ['ldm encode --model runs/mnist-kl digit1.png digit2.png -o latents.safetensors'],
  },
  async run(args) {
    const loaded = loadModel(args, 'encode');
    const out = stringOption(args, 'output') ?? 'latents.safetensors';
    const generator = flagOption(args, 'sample')
      ? new Generator(countOption(args, 'seed', 0, 'encode') ?? 0)
      : undefined;
    const size = countOption(args, 'size', 1, 'encode');
    const latents = encodeFiles(loaded, args.positionals, out, { size, generator });
    console.log(`wrote ${out}: latents ${formatShape(latents.shape)} by ${describe(loaded)}`);
    return 0;
  },
};

export const decodeCommand: Command = {
  spec: {
    name: 'decode',
    summary: 'Decode latents from a safetensors file (as ldm encode writes) into images, written as one PNG grid.',
    usage: '--model <ckpt> <latents.safetensors> [-o out.png]',
    options: [
      ...MODEL_OPTIONS,
      {
        name: 'output',
        short: 'o',
        kind: 'string',
        value: '<file.png>',
        description: 'Output PNG (default decoded.png)',
      },
    ],
    positionals: { min: 1, max: 1, name: 'latents file' },
    examples: ['ldm decode --model runs/mnist-kl latents.safetensors -o decoded.png'],
  },
  async run(args) {
    const loaded = loadModel(args, 'decode');
    const out = stringOption(args, 'output') ?? 'decoded.png';
    const images = decodeFile(loaded, args.positionals[0], out);
    console.log(`wrote ${out}: ${images.shape[0]} images ${formatShape(images.shape)} by ${describe(loaded)}`);
    return 0;
  },
};
