// Using a trained first stage on files: load it from a checkpoint, reconstruct images, encode
// images to a latents file and decode one back. Latents are the model's raw latents (the KL
// posterior's mean, or a VQ model's pre-quantisation latent), without the diffusion stage's
// scale factor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readImage, saveImage } from '../io/image.js';
import { resizeCenterCrop } from '../io/resize.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../io/safetensors.js';
import type { ConfigObject } from '../io/config.js';
import type { AutoencoderKL } from '../models/autoencoder/autoencoder-kl.js';
import { autoencoderFromConfig, loadAutoencoderStateDict } from '../models/autoencoder/checkpoint.js';
import type { AutoencoderTrainingConfig } from '../models/autoencoder/config.js';
import type { VQModel } from '../models/autoencoder/vq-model.js';
import { noGrad } from '../tensor/autograd.js';
import { Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import { stack } from '../tensor/ops/shape-ops.js';
import { Tensor } from '../tensor/tensor.js';
import { EMA_FILE, MODEL_FILE } from './autoencoder-checkpoint.js';
import { autoencoderConfigFromObject, resolveAutoencoderConfig } from './autoencoder-config.js';
import { reconstructImages, reconstructionGrid } from './autoencoder-evaluation.js';
import { resolveCheckpoint } from './checkpoint.js';

const LATENTS_FORMAT = 'latent-diffusion.latents/1';
const LATENTS_KEY = 'latents';

export interface LoadFirstStageOptions {
  /** A config file or preset, for weight files that carry none (e.g. converted CompVis checkpoints). */
  config?: string;
  /** 'auto' (default): the EMA weights when the checkpoint has them; 'ema' requires them; 'trained' never uses them. */
  weights?: 'auto' | 'ema' | 'trained';
}

export interface LoadedFirstStage {
  model: AutoencoderKL | VQModel;
  config: AutoencoderTrainingConfig;
  /** The weight file loaded. */
  file: string;
  weights: 'ema' | 'trained';
}

/**
 * A first-stage model in eval mode, from a run directory, a checkpoint directory, or a
 * .safetensors weight file (with its config in its metadata, or `options.config`).
 */
export function loadFirstStageModel(location: string, options: LoadFirstStageOptions = {}): LoadedFirstStage {
  const { weights = 'auto' } = options;
  if (!fs.existsSync(location)) throw new Error(`model ${location} does not exist`);
  const modelFile = fs.statSync(location).isFile()
    ? location
    : path.join(resolveCheckpoint(location, MODEL_FILE), MODEL_FILE);
  const config = options.config !== undefined ? resolveAutoencoderConfig(options.config) : configOfWeights(modelFile);
  const emaFile = path.join(path.dirname(modelFile), EMA_FILE);
  const hasEma = path.basename(modelFile) === MODEL_FILE && fs.existsSync(emaFile);
  if (weights === 'ema' && !hasEma) throw new Error(`${modelFile} has no EMA weights beside it (${EMA_FILE})`);
  const useEma = hasEma && weights !== 'trained';
  const file = useEma ? emaFile : modelFile;
  // Initial weights from a generator of our own (the global one stays untouched); all are replaced.
  const params = { ...config.model.params, ckpt_path: null };
  const model = autoencoderFromConfig({ ...config.model, params }, new Generator(0));
  loadAutoencoderStateDict(model, readSafetensors(file));
  model.eval();
  return { model, config, file, weights: useEma ? 'ema' : 'trained' };
}

function configOfWeights(file: string): AutoencoderTrainingConfig {
  const stored = readSafetensorsMetadata(file).config;
  if (stored === undefined) {
    throw new Error(`${file} carries no config in its metadata; give one with --config <yaml|preset>`);
  }
  return autoencoderConfigFromObject(JSON.parse(stored) as ConfigObject, `${file} (metadata)`);
}

/**
 * Reads image files as a batch [N, C, size, size] in [-1, 1]: decoded to the model's channels
 * (luma for 1), the shorter side resized to `size`, then the centre square cropped.
 */
export function readImagesForModel(files: readonly string[], channels: number, size: number): Tensor {
  if (files.length === 0) throw new Error('no images given');
  if (channels !== 1 && channels !== 3)
    throw new Error(`the model takes ${channels}-channel images; only 1 or 3 are read`);
  return stack(files.map((file) => resizeCenterCrop(readImage(file, { channels }), size)));
}

/** The model's input size: `size` when given (a multiple of its downsampling factor), else the config's resolution. */
export function modelImageSize(loaded: LoadedFirstStage, size?: number): number {
  const factor = loaded.model.downsamplingFactor;
  const chosen = size ?? loaded.config.model.params.ddconfig.resolution;
  if (!Number.isInteger(chosen) || chosen < factor || chosen % factor !== 0) {
    throw new Error(`image size ${chosen} must be a positive multiple of the model's downsampling factor ${factor}`);
  }
  return chosen;
}

/** Reconstructs image files and writes one PNG: the inputs above, their reconstructions below. */
export function reconstructFiles(loaded: LoadedFirstStage, files: readonly string[], out: string, size?: number): void {
  const { in_channels: channels } = loaded.config.model.params.ddconfig;
  const images = readImagesForModel(files, channels, modelImageSize(loaded, size));
  const grid = reconstructionGrid(images, reconstructImages(loaded.model, images));
  saveImage(grid, out, { text: { Software: 'latent-diffusion', model: loaded.file } });
}

/**
 * Encodes image files to a safetensors file holding `latents` [N, C, h, w]; with a generator,
 * a KL model's latents are posterior samples instead of means.
 */
export function encodeFiles(
  loaded: LoadedFirstStage,
  files: readonly string[],
  out: string,
  { size, generator }: { size?: number; generator?: Generator } = {},
): Tensor {
  const { in_channels: channels } = loaded.config.model.params.ddconfig;
  const images = readImagesForModel(files, channels, modelImageSize(loaded, size));
  const latents = noGrad(() => loaded.model.encodeLatent(images, generator));
  writeSafetensors(
    out,
    { [LATENTS_KEY]: latents },
    {
      format: LATENTS_FORMAT,
      model: loaded.file,
      kind: loaded.model.kind,
      images: JSON.stringify(files.map((file) => path.basename(file))),
    },
  );
  return latents;
}

/** Reads latents [N, C, h, w] from a file written by encodeFiles (or any file with one 4-D tensor). */
export function readLatents(file: string): Tensor {
  const tensors = readSafetensors(file);
  const record = tensors.get(LATENTS_KEY) ?? (tensors.size === 1 ? [...tensors.values()][0] : undefined);
  if (record === undefined) {
    throw new Error(`${file} has no "${LATENTS_KEY}" tensor (it has ${[...tensors.keys()].join(', ') || 'none'})`);
  }
  if (record.shape.length !== 4)
    throw new Error(`${file}: latents must be [N, C, h, w], got ${formatShape(record.shape)}`);
  return new Tensor(record.data, record.shape);
}

/** Decodes a latents file and writes the images as one PNG grid. */
export function decodeFile(loaded: LoadedFirstStage, latentsFile: string, out: string): Tensor {
  const latents = readLatents(latentsFile);
  const { latentChannels } = loaded.model;
  if (latents.shape[1] !== latentChannels) {
    throw new Error(
      `${latentsFile}: latents ${formatShape(latents.shape)} have ${latents.shape[1]} channels; the model's have ${latentChannels}`,
    );
  }
  const images = noGrad(() => loaded.model.decodeLatent(latents)).clamp(-1, 1);
  saveImage(images, out, { text: { Software: 'latent-diffusion', model: loaded.file, latents: latentsFile } });
  return images;
}
