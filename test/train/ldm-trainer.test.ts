// The latent diffusion trainer on a tiny model and real PNG files: the latent cache (flips
// encoded, KL samples drawn per use), scale_by_std, the loss going down, bit-exact resume, and
// the checkpoint loading back as a model for sampling.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LatentDataset, loadLatentCache } from '../../src/data/latent-cache.js';
import { horizontalFlip } from '../../src/data/transforms.js';
import { parseDataSpec } from '../../src/data/spec.js';
import { qSample, trainingTarget } from '../../src/diffusion/index.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { loadLdmWeights } from '../../src/models/ldm/checkpoint.js';
import { loadLdmConfig } from '../../src/models/ldm/config.js';
import type { LatentDiffusion } from '../../src/models/ldm/latent-diffusion.js';
import { generate } from '../../src/pipelines/generate.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { setNumThreads } from '../../src/tensor/device.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadFirstStageModel } from '../../src/train/autoencoder-tools.js';
import { ldmWeightsFile } from '../../src/train/ldm-checkpoint.js';
import { createLdmTrainer, resumeLdmTrainer } from '../../src/train/ldm-setup.js';
import {
  makeTinyAutoencoder,
  tinyTrainer,
  writeClassFolder,
  writeTinyLdmConfig,
  type TinyTrainerOptions,
} from './ldm-tiny-setup.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-trainer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
// One thread keeps the float sums in a fixed order, so that runs compare bit for bit.
setNumThreads(1);

let autoencoder = '';
const data = `folder:${writeClassFolder(path.join(dir, 'shapes'))}`;
const configFile = writeTinyLdmConfig(dir, 'tiny-ldm.yaml');

before(async () => {
  autoencoder = await makeTinyAutoencoder(dir);
});

function create(out: string, steps: number, extra: Partial<TinyTrainerOptions> = {}) {
  const outDir = path.join(dir, out);
  return tinyTrainer({ config: configFile, autoencoder, data, outDir, steps, preview: { steps: 4 }, ...extra });
}

/** The diffusion loss at fixed latents, timesteps, noise and labels. */
function fixedLoss(ldm: LatentDiffusion, latents: Tensor, labels: number[]): number {
  return noGrad(() => {
    const g = new Generator(7);
    const n = latents.shape[0];
    const t = Array.from({ length: n }, (_, i) => (i * 37) % ldm.schedule.numTimesteps);
    const noise = Tensor.randn(latents.shape, g);
    const x0 = latents.mul(ldm.scaleFactor);
    const xt = qSample(ldm.schedule, x0, t, noise);
    const target = trainingTarget(ldm.schedule, ldm.parameterization, x0, noise, t);
    const out = ldm.applyModel(xt, Tensor.from(t, [n]), ldm.conditioning({ labels }));
    const diff = out.sub(target);
    return diff.mul(diff).mean().item();
  });
}

describe('latent cache', () => {
  test('holds the moments of every training image and of its mirror image; samples differ per draw', () => {
    const trainer = create('cache-flip', 1, { randomFlip: true });
    const cache = loadLatentCache(trainer.settings.latents);
    const train = parseDataSpec(data, { size: 16, channels: 3, split: 'train' });
    assert.equal(cache.count, train.length);
    assert.equal(cache.flip, true);
    assert.equal(cache.kind, 'kl-moments');
    assert.deepEqual(cache.shape, [2, 8, 8]);
    assert.deepEqual(cache.classNames, ['circle', 'square']);
    assert.equal(cache.values.length, 2 * cache.count * 4 * 64);
    // Entry count + 3 is image 3 mirrored, encoded as an image (not the latent mirrored).
    const { model } = loadFirstStageModel(autoencoder);
    const image = train.get(3).image;
    const mirrored = new Tensor(horizontalFlip(image, 3, 16, 16), [1, 3, 16, 16]);
    const expected = noGrad(() => (model.kind === 'kl' ? model.encode(mirrored).moments : mirrored));
    const stored = cache.values.subarray((cache.count + 3) * 256, (cache.count + 4) * 256);
    for (let i = 0; i < 256; i++) assert.ok(Math.abs(stored[i] - expected.data[i]) < 1e-5, `value ${i}`);
    // Without a generator: the mean; with one: a posterior sample, different per draw.
    const dataset = new LatentDataset(cache);
    assert.deepEqual([...dataset.get(3).image], [...cache.values.subarray(3 * 256, 3 * 256 + 128)]);
    const a = dataset.get(3, new Generator(1)).image;
    const b = dataset.get(3, new Generator(2)).image;
    assert.notDeepEqual([...a], [...b]);
    assert.equal(dataset.get(3).label, train.get(3).label);
  });

  test('is reused by a run on the same data and first stage, and refused for other data', () => {
    const first = create('cache-reuse', 1);
    const latents = first.settings.latents;
    const second = create('cache-reuse-2', 1, { latents });
    assert.equal(second.settings.latents, latents);
    assert.throws(() => create('cache-other', 1, { latents, randomFlip: true }), /holds latents of .* remove it/);
  });
});

describe('LdmTrainer', () => {
  test('scale_by_std sets scale_factor to 1 / std of the first batch', () => {
    const trainer = create('scale', 1);
    const std = 1 / trainer.ldm.scaleFactor;
    assert.ok(Number.isFinite(trainer.ldm.scaleFactor) && trainer.ldm.scaleFactor > 0);
    const scaled = trainer.firstBatchLatentStd();
    assert.ok(Math.abs(scaled - std) < 1e-6 * std, `${scaled} vs ${std}`);
  });

  test('lowers the diffusion loss at fixed noise and timesteps', async () => {
    const trainer = create('learn', 60, { emaDecay: null, conditionDropout: 0 });
    const cache = loadLatentCache(trainer.settings.latents);
    const dataset = new LatentDataset(cache);
    const latents = new Tensor(
      Float32Array.from({ length: 8 * 128 }, (_, i) => dataset.get(Math.floor(i / 128)).image[i % 128]),
      [8, 2, 8, 8],
    );
    const labels = Array.from({ length: 8 }, (_, i) => dataset.get(i).label ?? 0);
    const before = fixedLoss(trainer.ldm, latents, labels);
    await trainer.run();
    const afterTraining = fixedLoss(trainer.ldm, latents, labels);
    assert.ok(afterTraining < 0.7 * before, `loss ${before} -> ${afterTraining}`);
  });

  test('resumes bit for bit', async () => {
    const straight = create('straight', 6, { checkpointEvery: 3 });
    await straight.run();
    const interrupted = create('resumed', 3, { checkpointEvery: 3 });
    await interrupted.run();
    const resumed = resumeLdmTrainer(path.join(dir, 'resumed'), { steps: 6 });
    assert.equal(resumed.step, 3);
    await resumed.run();
    const a = readSafetensors(ldmWeightsFile(path.join(dir, 'straight'), 'trained'));
    const b = readSafetensors(ldmWeightsFile(path.join(dir, 'resumed'), 'trained'));
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [key, value] of a) assert.deepEqual(b.get(key)!.data, value.data, key);
    const emaA = readSafetensors(ldmWeightsFile(path.join(dir, 'straight')));
    const emaB = readSafetensors(ldmWeightsFile(path.join(dir, 'resumed')));
    for (const [key, value] of emaA) assert.deepEqual(emaB.get(key)!.data, value.data, key);
  });

  test('writes a checkpoint that loads as a model on its own, with CompVis key names', async () => {
    const trainer = create('standalone', 2, { sampleEvery: 2 });
    await trainer.run();
    const file = ldmWeightsFile(path.join(dir, 'standalone'));
    assert.match(file, /ema\.safetensors$/);
    const keys = [...readSafetensors(file).keys()];
    assert.ok(keys.includes('model.diffusion_model.input_blocks.0.0.weight'));
    assert.ok(keys.includes('first_stage_model.decoder.conv_out.weight'));
    assert.ok(keys.includes('cond_stage_model.embedding.weight'));
    assert.ok(keys.includes('scale_factor'));
    const { ldm } = loadLdmWeights(file);
    assert.equal(ldm.scaleFactor, trainer.ldm.scaleFactor);
    assert.equal(ldm.numClasses, 2);
    assert.equal(ldm.nullClass, 2);
    const images = generate(ldm, { n: 2, labels: [0, 1], steps: 3, guidance: 2, seed: 5 });
    assert.deepEqual(images.shape, [2, 3, 16, 16]);
    const again = generate(ldm, { n: 2, labels: [0, 1], steps: 3, guidance: 2, seed: 5 });
    assert.deepEqual(again.data, images.data);
    assert.ok(fs.existsSync(path.join(dir, 'standalone', 'samples', 'step-000002.png')));
  });

  test('refuses a class-conditional model on data without labels, and an occupied run directory', async () => {
    const flat = path.join(dir, 'flat');
    fs.mkdirSync(flat);
    for (const name of fs.readdirSync(path.join(dir, 'shapes', 'circle'))) {
      fs.copyFileSync(path.join(dir, 'shapes', 'circle', name), path.join(flat, name));
    }
    assert.throws(() => create('unlabelled', 1, { data: `folder:${flat}` }), /class-conditional, but .* has no labels/);
    const done = create('occupied', 1);
    await done.run();
    assert.throws(() => create('occupied', 1), /already holds a training run/);
  });

  test('trains a pixel-space model (IdentityFirstStage) without an autoencoder, and stops at a time limit', async () => {
    const config = loadLdmConfig(writeTinyLdmConfig(dir, 'tiny-pixel.yaml', { pixel: true, scaleByStd: false }));
    const outDir = path.join(dir, 'pixel');
    const options = { config, data, outDir, steps: 1000, checkpointEvery: 0, sampleEvery: 0, preview: { steps: 2 } };
    assert.throws(() => createLdmTrainer({ ...options, autoencoder }), /pixel-space model .* takes no autoencoder/);
    const trainer = createLdmTrainer(options);
    assert.deepEqual(trainer.ldm.latentShape, [3, 8, 8]);
    const cache = loadLatentCache(path.join(outDir, 'latents.safetensors'));
    const first = parseDataSpec(data, { size: 8, channels: 3, split: 'train' }).get(0).image;
    assert.deepEqual(cache.values.subarray(0, first.length), first);
    const result = await trainer.run({ timeLimitSeconds: 0.3 });
    assert.equal(result.reason, 'time-limit');
    assert.ok(result.step > 0 && result.step < 1000);
    const end = fs
      .readFileSync(path.join(outDir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record.event === 'end');
    assert.equal(end?.reason, 'time-limit');
    assert.ok((end?.samples_per_second as number) > 0);
    const { ldm } = loadLdmWeights(ldmWeightsFile(outDir));
    assert.equal(ldm.firstStageModel.kind, 'identity');
    assert.deepEqual(generate(ldm, { n: 2, labels: [0, 1], steps: 2, seed: 1 }).shape, [2, 3, 8, 8]);
  });
});
