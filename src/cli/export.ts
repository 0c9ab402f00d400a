// `ldm export`: a training checkpoint as one inference weights file (EMA weights by default),
// optionally in float16, as the bundled model is made.
import { exportLdmWeights } from '../train/ldm-checkpoint.js';
import { requireOption, stringOption, type CommandSpec, type ParsedArgs } from './args.js';
import type { Command } from './command.js';

const NAME = 'export';

const spec: CommandSpec = {
  name: NAME,
  summary: 'Write a latent diffusion checkpoint as one weights file (EMA weights, optionally float16).',
  usage: '--model <dir|ckpt> -o <file.safetensors> [--dtype f16]',
  details: [
    'The file holds the U-Net, first stage, conditioning encoder, scale_factor and config: ldm sample and ' +
      'ldm generate take it with --model. Optimizer and trainer state are left out.',
  ],
  options: [
    { name: 'model', kind: 'string', value: '<dir|ckpt>', description: 'A train run directory, checkpoint or weights' },
    { name: 'output', short: 'o', kind: 'string', value: '<file>', description: 'The weights file to write' },
    {
      name: 'dtype',
      kind: 'string',
      value: '<f32|f16>',
      choices: ['f32', 'f16'],
      description: 'Storage type (default f32)',
    },
    {
      name: 'weights',
      kind: 'string',
      value: '<auto|ema|trained>',
      choices: ['auto', 'ema', 'trained'],
      description: 'In a run directory: EMA or trained weights (default auto: EMA when kept)',
    },
  ],
  positionals: { min: 0, max: 0, name: '' },
  examples: ['ldm export --model runs/mnist-ldm -o mnist-class-f4.safetensors --dtype f16'],
};

async function run(args: ParsedArgs): Promise<number> {
  const out = requireOption(args, 'output', NAME);
  const dtype = stringOption(args, 'dtype') === 'f16' ? 'F16' : 'F32';
  const weights = stringOption(args, 'weights') as 'auto' | 'ema' | 'trained' | undefined;
  const source = exportLdmWeights(requireOption(args, 'model', NAME), out, { dtype, weights });
  console.log(`wrote ${out} (${dtype}) from ${source}`);
  return 0;
}

export const exportCommand: Command = { spec, run };
