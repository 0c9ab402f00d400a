// Shared by the latent diffusion trainer and CLI tests: a tiny first stage (trained for one step
// on synthetic patterns), a tiny class-conditional LDM config over it, a trainer for short runs of
// it, and a folder of PNGs in two class subfolders.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AutoencoderTrainer } from '../../src/train/autoencoder-trainer.js';
import { loadAutoencoderConfig } from '../../src/models/autoencoder/config.js';
import { loadLdmConfig } from '../../src/models/ldm/config.js';
import type { LdmTrainer } from '../../src/train/ldm-trainer.js';
import { createLdmTrainer, type LdmTrainerOptions } from '../../src/train/ldm-setup.js';
import { syntheticData, writePngFolder, writeTinyConfig } from './tiny-setup.js';

/** A tiny KL autoencoder run (16 px RGB, f = 2, latents 2 x 8 x 8) in `dir`; returns the run directory. */
export async function makeTinyAutoencoder(dir: string): Promise<string> {
  const config = loadAutoencoderConfig(writeTinyConfig(dir, 'tiny-ae.yaml', { channels: 3, discStart: 100 }));
  const outDir = path.join(dir, 'tiny-ae');
  const trainer = AutoencoderTrainer.create({ config, data: syntheticData(3, 8), outDir, steps: 1, sampleEvery: 0 });
  await trainer.run();
  return outDir;
}

export interface TinyLdmOptions {
  /** Class-conditional with this many classes (plus the null class), or unconditional. */
  classes?: number | null;
  ucgRate?: number;
  scaleByStd?: boolean;
  /** A pixel-space model (IdentityFirstStage) on 8 x 8 RGB images instead of the tiny autoencoder's latents. */
  pixel?: boolean;
  /** A text-conditional model (a one-layer BERTEmbedder) instead of a class-conditional one. */
  text?: boolean;
}

/** A CompVis-layout LDM config of a tiny U-Net over the tiny autoencoder's 2 x 8 x 8 latents. */
export function tinyLdmYaml(options: TinyLdmOptions = {}): string {
  const { classes = 2, ucgRate = 0.2, scaleByStd = true, pixel = false, text = false } = options;
  const channels = pixel ? 3 : 2;
  const firstStage = pixel ? '    first_stage_config:\n      target: ldm.models.autoencoder.IdentityFirstStage\n' : '';
  const conditional = classes !== null || text;
  const cond = text
    ? `    conditioning_key: crossattn
    cond_stage_trainable: true
    cond_stage_config:
      target: ldm.modules.encoders.modules.BERTEmbedder
      params:
        n_embed: 16
        n_layer: 1
        heads: 2
        dim_head: 8
        vocab_size: 64
        max_seq_len: 8
        ucg_rate: ${ucgRate}
`
    : conditional
      ? `    conditioning_key: crossattn
    cond_stage_trainable: true
    cond_stage_config:
      target: ldm.modules.encoders.modules.ClassEmbedder
      params:
        embed_dim: 16
        n_classes: ${(classes ?? 0) + 1}
        ucg_rate: ${ucgRate}
`
      : '';
  const attention = conditional
    ? `        use_spatial_transformer: true
        transformer_depth: 1
        context_dim: 16
`
    : '';
  return `model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.0015
    linear_end: 0.0195
    timesteps: 100
    image_size: 8
    channels: ${channels}
    scale_by_std: ${scaleByStd}
${firstStage}${cond}    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 8
        in_channels: ${channels}
        out_channels: ${channels}
        model_channels: 32
        attention_resolutions: [1]
        num_res_blocks: 1
        channel_mult: [1]
        num_head_channels: 16
${attention}data:
  target: main.DataModuleFromConfig
  params:
    batch_size: 4
`;
}

export function writeTinyLdmConfig(dir: string, name: string, options: TinyLdmOptions = {}): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, tinyLdmYaml(options));
  return file;
}

export interface TinyTrainerOptions extends Omit<LdmTrainerOptions, 'config'> {
  /** The config file, as writeTinyLdmConfig writes it. */
  config: string;
}

/**
 * A new run of a tiny LDM as the tests train it: a learning rate high enough to move in a few steps,
 * no checkpoints or sample grids unless asked for, and a two-step preview grid at the end.
 */
export function tinyTrainer({ config, ...options }: TinyTrainerOptions): LdmTrainer {
  return createLdmTrainer({
    config: loadLdmConfig(config),
    learningRate: 2e-3,
    checkpointEvery: 0,
    sampleEvery: 0,
    preview: { steps: 2 },
    ...options,
  });
}

/** 20 RGB PNGs (20 and 24 px) with a caption file each: "a red circle"-like lines; returns `dir`. */
export function writeCaptionedFolder(dir: string): string {
  const files = [...writePngFolder(path.join(dir, 'round'), 10), ...writePngFolder(path.join(dir, 'boxy'), 10, 24)];
  files.forEach((file, k) => {
    const shape = k < 10 ? 'circle' : 'square';
    const colour = ['red', 'blue'][k % 2];
    fs.writeFileSync(file.replace(/\.png$/, '.txt'), `a ${colour} ${shape}\n${colour} ${shape}\n`);
  });
  return dir;
}

/** 2 classes x 10 RGB PNGs (20 px) in `<dir>/circle/` and `<dir>/square/`; returns `dir`. */
export function writeClassFolder(dir: string): string {
  writePngFolder(path.join(dir, 'circle'), 10);
  writePngFolder(path.join(dir, 'square'), 10, 24);
  return dir;
}
