// Latents of a frozen first stage, computed once and kept on disk, so that diffusion training
// never runs the encoder again (Rombach et al. 2022 train the U-Net on latents of a fixed
// autoencoder). A KL first stage's latent is random (a posterior sample), so the cache keeps the
// posterior's moments (mean and log-variance) and draws a fresh sample each time an example is
// used. Mirroring an image does not mirror its latent exactly, so with `flip` the mirrored
// images are encoded too and each use picks one of the two at random.
import * as fs from 'node:fs';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../io/safetensors.js';
import type { Generator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import type { Dataset, Sample } from './dataset.js';
import { horizontalFlip } from './transforms.js';

const FORMAT = 'latent-diffusion.latent-cache/1';

export type LatentKind = 'kl-moments' | 'latents';

export interface LatentCacheContents {
  /** `kl-moments`: [mean, logvar] stacked on channels (2C); `latents`: the latent itself (C). */
  kind: LatentKind;
  /** Latent channels C, height and width. */
  shape: [number, number, number];
  /** [count, stored channels, h, w] for the images, then (with flip) as many for their mirror images. */
  values: Float32Array;
  count: number;
  flip: boolean;
  labels: Int32Array | null;
  classNames: readonly string[] | null;
  captions: (string | string[])[] | null;
  /** What the latents came from: the dataset's name and the first stage's weights. */
  source: { data: string; firstStage: string };
}

export interface BuildLatentCacheOptions {
  kind: LatentKind;
  /** Also encode each image mirrored. */
  flip?: boolean;
  batchSize?: number;
  /** Called after each batch with the images done so far. */
  onProgress?: (done: number, total: number) => void;
  firstStage: string;
}

/**
 * Encodes every image of `dataset` (its deterministic view) with `encode`, which maps images
 * [B, C, H, W] to the stored latent values ([B, 2C, h, w] moments or [B, C, h, w] latents).
 */
export function buildLatentCache(
  dataset: Dataset,
  encode: (images: Tensor) => Tensor,
  options: BuildLatentCacheOptions,
): LatentCacheContents {
  const { kind, flip = false, batchSize = 64, onProgress } = options;
  const { channels, size } = dataset;
  const imageSize = channels * size * size;
  const count = dataset.length;
  const passes = flip ? 2 : 1;
  let values: Float32Array | null = null;
  let stored = 0;
  let shape: [number, number, number] = [0, 0, 0];
  const labels = new Int32Array(count);
  let hasLabels = true;
  const captions: (string | string[])[] = [];
  let hasCaptions = true;
  for (let pass = 0; pass < passes; pass++) {
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      const images = new Float32Array(n * imageSize);
      for (let i = 0; i < n; i++) {
        const sample: Sample = dataset.get(start + i);
        const image = pass === 1 ? horizontalFlip(sample.image, channels, size, size) : sample.image;
        images.set(image, i * imageSize);
        if (pass === 0) {
          if (sample.label === undefined) hasLabels = false;
          else labels[start + i] = sample.label;
          if (sample.caption === undefined) hasCaptions = false;
          else captions.push(sample.caption);
        }
      }
      const latents = encode(new Tensor(images, [n, channels, size, size]));
      const [, c, h, w] = latents.shape;
      if (values === null) {
        stored = c * h * w;
        values = new Float32Array(passes * count * stored);
        shape = [kind === 'kl-moments' ? c / 2 : c, h, w];
      }
      values.set(latents.data, (pass * count + start) * stored);
      onProgress?.(pass * count + start + n, passes * count);
    }
  }
  if (values === null) throw new Error(`buildLatentCache: ${dataset.name} has no images`);
  return {
    kind,
    shape,
    values,
    count,
    flip,
    labels: hasLabels ? labels : null,
    classNames: dataset.classNames ?? null,
    captions: hasCaptions ? captions : null,
    source: { data: dataset.name, firstStage: options.firstStage },
  };
}

export function saveLatentCache(file: string, cache: LatentCacheContents): void {
  const [c, h, w] = cache.shape;
  const storedChannels = cache.kind === 'kl-moments' ? 2 * c : c;
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {
    values: { shape: [cache.values.length / (storedChannels * h * w), storedChannels, h, w], data: cache.values },
  };
  if (cache.labels !== null) tensors.labels = { shape: [cache.count], data: Float32Array.from(cache.labels) };
  writeSafetensors(file, tensors, {
    format: FORMAT,
    kind: cache.kind,
    shape: JSON.stringify(cache.shape),
    count: String(cache.count),
    flip: String(cache.flip),
    class_names: JSON.stringify(cache.classNames),
    captions: JSON.stringify(cache.captions),
    source: JSON.stringify(cache.source),
  });
}

/** What a cache file was made from, read from its header only (the values stay on disk). */
export function latentCacheSource(file: string): { data: string; firstStage: string; flip: boolean } {
  const meta = cacheMetadata(file);
  return { ...(JSON.parse(meta.source) as { data: string; firstStage: string }), flip: meta.flip === 'true' };
}

function cacheMetadata(file: string): Record<string, string> {
  if (!fs.existsSync(file)) throw new Error(`latent cache ${file} does not exist`);
  const meta = readSafetensorsMetadata(file);
  if (meta.format !== FORMAT) throw new Error(`${file} is not a latent cache (format "${meta.format ?? 'none'}")`);
  return meta;
}

export function loadLatentCache(file: string): LatentCacheContents {
  const meta = cacheMetadata(file);
  const tensors = readSafetensors(file);
  const labels = tensors.get('labels');
  return {
    kind: meta.kind as LatentKind,
    shape: JSON.parse(meta.shape) as [number, number, number],
    values: tensors.get('values')!.data,
    count: Number(meta.count),
    flip: meta.flip === 'true',
    labels: labels === undefined ? null : Int32Array.from(labels.data),
    classNames: JSON.parse(meta.class_names) as string[] | null,
    captions: JSON.parse(meta.captions) as (string | string[])[] | null,
    source: JSON.parse(meta.source) as { data: string; firstStage: string },
  };
}

/**
 * The cache as a Dataset of latents [C, h, w] (not images: values are the first stage's raw
 * latents, not in [-1, 1]), for the DataLoader's reproducible batching. Each get() draws from
 * the generator the DataLoader gives it: the orientation (with flip) and the KL posterior sample.
 */
export class LatentDataset implements Dataset {
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly size: number;
  readonly classNames?: readonly string[];

  constructor(readonly cache: LatentCacheContents) {
    const [c, h, w] = cache.shape;
    if (h !== w) throw new Error(`LatentDataset: latents must be square, got ${h} x ${w}`);
    this.name = `latents of ${cache.source.data}`;
    this.length = cache.count;
    this.channels = c;
    this.size = h;
    if (cache.classNames !== null) this.classNames = cache.classNames;
  }

  get(index: number, generator?: Generator): Sample {
    const { cache } = this;
    const [c, h, w] = cache.shape;
    const plane = c * h * w;
    const stored = cache.kind === 'kl-moments' ? 2 * plane : plane;
    const mirrored = cache.flip && generator !== undefined && generator.uniform() < 0.5;
    const offset = ((mirrored ? cache.count : 0) + index) * stored;
    const image = new Float32Array(plane);
    if (cache.kind === 'latents') {
      image.set(cache.values.subarray(offset, offset + plane));
    } else {
      // z = mean + exp(logvar / 2) * eps, logvar clamped to [-30, 20] as the posterior does; the mean without a generator.
      for (let i = 0; i < plane; i++) {
        const mean = cache.values[offset + i];
        if (generator === undefined) {
          image[i] = mean;
          continue;
        }
        const logvar = Math.min(20, Math.max(-30, cache.values[offset + plane + i]));
        image[i] = mean + Math.exp(0.5 * logvar) * generator.normal();
      }
    }
    const sample: Sample = { image };
    if (cache.labels !== null) sample.label = cache.labels[index];
    if (cache.captions !== null) sample.caption = cache.captions[index];
    return sample;
  }
}
