// Shared by the trainer and CLI tests: a tiny first-stage config (16 px, f = 2, one res block,
// a one-layer discriminator), smooth synthetic images, and a folder of real PNG files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset, Sample } from '../../src/data/dataset.js';
import { encodePng } from '../../src/io/png.js';
import { Generator } from '../../src/tensor/random.js';
import type { TrainingData } from '../../src/train/training-data.js';

export const TINY_SIZE = 16;

export interface TinyConfigOptions {
  kind?: 'kl' | 'vq';
  channels?: 1 | 3;
  discStart?: number;
  chMult?: number[];
  /** Extra lines appended under ddconfig (e.g. a misspelt key). */
  extraDdconfig?: string;
}

/** A CompVis-layout YAML config of a tiny autoencoder. */
export function tinyConfigYaml(options: TinyConfigOptions = {}): string {
  const { kind = 'kl', channels = 1, discStart = 2, chMult = [1, 2], extraDdconfig = '' } = options;
  const kl = kind === 'kl';
  return `model:
  base_learning_rate: 1.0e-4
  target: ldm.models.autoencoder.${kl ? 'AutoencoderKL' : 'VQModel'}
  params:
    embed_dim: 2
${kl ? '' : '    n_embed: 16\n'}    ddconfig:
      double_z: ${kl}
      z_channels: 2
      resolution: ${TINY_SIZE}
      in_channels: ${channels}
      out_ch: ${channels}
      ch: 32
      ch_mult: [${chMult.join(', ')}]
      num_res_blocks: 1
      attn_resolutions: []
      dropout: 0.0
${extraDdconfig}    lossconfig:
      target: ldm.modules.losses.${kl ? 'LPIPSWithDiscriminator' : 'VQLPIPSWithDiscriminator'}
      params:
        disc_start: ${discStart}
        disc_in_channels: ${channels}
        disc_num_layers: 1
        disc_weight: 0.5
data:
  target: main.DataModuleFromConfig
  params:
    batch_size: 4
`;
}

export function writeTinyConfig(dir: string, name: string, options: TinyConfigOptions = {}): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, tinyConfigYaml(options));
  return file;
}

/** Smooth random patterns in [-0.9, 0.9]: sums of two plane waves per channel. */
function pattern(index: number, channels: number, size: number): Float32Array {
  const g = new Generator(1000 + index);
  const image = new Float32Array(channels * size * size);
  for (let c = 0; c < channels; c++) {
    const [fx, fy, phase, fx2, fy2] = [
      0.2 + 0.4 * g.uniform(),
      0.4 * g.uniform(),
      6 * g.uniform(),
      0.3 * g.uniform(),
      0.3 * g.uniform(),
    ];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = 0.6 * Math.sin(fx * x + fy * y + phase) + 0.3 * Math.cos(fx2 * x - fy2 * y);
        image[(c * size + y) * size + x] = v;
      }
    }
  }
  return image;
}

class PatternDataset implements Dataset {
  constructor(
    readonly name: string,
    readonly length: number,
    readonly channels: number,
    readonly size: number,
    private readonly offset: number,
  ) {}

  get(index: number): Sample {
    return { image: pattern(this.offset + index, this.channels, this.size) };
  }
}

/** In-memory train (`count` images) and test (8 images) splits of smooth patterns. */
export function syntheticData(channels: 1 | 3, count = 32): TrainingData {
  return {
    name: 'patterns',
    train: new PatternDataset('patterns/train', count, channels, TINY_SIZE, 0),
    test: new PatternDataset('patterns/test', 8, channels, TINY_SIZE, 10000),
  };
}

/** Writes `count` RGB PNGs of `side` x `side` pixels (patterns) into `dir`; returns their paths. */
export function writePngFolder(dir: string, count: number, side = 20): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return Array.from({ length: count }, (_, k) => {
    const values = pattern(k, 3, side);
    const data = Uint8Array.from(values, (v) => Math.round((v + 1) * 127.5));
    const file = path.join(dir, `image-${String(k).padStart(2, '0')}.png`);
    fs.writeFileSync(file, encodePng({ channels: 3, height: side, width: side, data }));
    return file;
  });
}
