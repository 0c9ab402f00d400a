// The held-out measure of a text-to-image model: a tiny text LDM trained for two steps on a
// captioned folder (two subfolders: the labels), judged by a classifier trained for a few steps.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Dataset, Sample } from '../../src/data/dataset.js';
import { classifierAccuracy, frechetDistance, imageFeatures, trainClassifier } from '../../src/eval/index.js';
import type { ImageClassifier } from '../../src/eval/index.js';
import type { LatentDiffusion } from '../../src/models/ldm/latent-diffusion.js';
import { evaluateTextConditional, heldOutPrompts, REAL_ROW } from '../../src/pipelines/evaluate-text.js';
import { referenceFeatures } from '../../src/pipelines/evaluate.js';
import { generate } from '../../src/pipelines/generate.js';
import { setNumThreads } from '../../src/tensor/device.js';
import { openTrainingData, type TrainingData } from '../../src/train/training-data.js';
import {
  makeTinyAutoencoder,
  tinyTrainer,
  writeCaptionedFolder,
  writeClassFolder,
  writeTinyLdmConfig,
} from '../train/ldm-tiny-setup.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-text-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
setNumThreads(1);

const captioned = `folder:${writeCaptionedFolder(path.join(dir, 'captioned'))}`;
let autoencoder = '';
let ldm: LatentDiffusion;
let classifier: ImageClassifier;
let splits: { train: Dataset; test: Dataset };

function trainer(config: string, data: string, out: string, steps: number) {
  // The run ends with a preview grid: one sampler step keeps it cheap.
  return tinyTrainer({ config, autoencoder, data, outDir: path.join(dir, out), steps, preview: { steps: 1 } });
}

function heldOutSplit(data: TrainingData): Dataset {
  assert.ok(data.test !== null, data.testUnavailable);
  return data.test;
}

before(async () => {
  autoencoder = await makeTinyAutoencoder(dir);
  const text = trainer(writeTinyLdmConfig(dir, 'text.yaml', { text: true }), captioned, 'text', 2);
  await text.run();
  ldm = text.ldm;
  const data = openTrainingData(captioned, ldm.imageSize, ldm.imageChannels);
  splits = { train: data.train, test: heldOutSplit(data) };
  classifier = trainClassifier(data.train, { steps: 3, batchSize: 8, width: 8 });
});

const SETTINGS = [
  { sampler: 'ddim', steps: 2 },
  { sampler: 'dpm++2m', steps: 2 },
] as const;
const OPTIONS = { guidance: 3, seed: 5, batchSize: 3, referenceCount: 6 };

describe('evaluateTextConditional', () => {
  test('rows: held-out real images, one per sampler setting, the empty-prompt control', () => {
    const events: string[] = [];
    let steps = 0;
    const rows = evaluateTextConditional(ldm, classifier, splits, SETTINGS, {
      ...OPTIONS,
      perPrompt: 2,
      onRow: ({ name, phase }) => events.push(`${phase} ${name}`),
      onStep: (done, total) => {
        steps++;
        // 4 images in batches of 3: two batches of two steps.
        assert.equal(total, 4);
        assert.ok(done <= total);
      },
    });
    const names = [REAL_ROW, 'ddim 2', 'dpm++2m 2', 'empty prompt (ddim 2)'];
    assert.deepEqual(
      rows.map((row) => row.name),
      names,
    );
    // The folder's test split holds every 10th image: 2 of 20, one per subfolder.
    assert.deepEqual(
      rows.map((row) => row.images),
      [2, 4, 4, 4],
    );
    assert.deepEqual(
      events,
      names.flatMap((name) => [`start ${name}`, `end ${name}`]),
    );
    assert.equal(steps, 3 * 4);
    for (const row of rows) {
      assert.ok(row.accuracy >= 0 && row.accuracy <= 1, `${row.name}: ${row.accuracy}`);
      assert.ok(Number.isFinite(row.frechet) && row.frechet >= 0, `${row.name}: ${row.frechet}`);
    }
  });

  test('each row is what its definition says, and the same seed gives the same table', () => {
    const rows = evaluateTextConditional(ldm, classifier, splits, SETTINGS.slice(0, 1), OPTIONS);
    const again = evaluateTextConditional(ldm, classifier, splits, SETTINGS.slice(0, 1), OPTIONS);
    const values = (r: typeof rows) =>
      r.map(({ name, images, accuracy, frechet }) => [name, images, accuracy, frechet]);
    assert.deepEqual(values(again), values(rows));

    const held = heldOutPrompts(splits.test);
    const labels = held.prompts.map((p) => p.label);
    assert.deepEqual([...labels].sort(), [0, 1]);
    const reference = referenceFeatures(classifier, splits.train, OPTIONS.referenceCount);
    const expect = (images: typeof held.images) => ({
      accuracy: classifierAccuracy(classifier, images, labels),
      frechet: frechetDistance(imageFeatures(classifier, images), reference),
    });
    const measured = rows.map(({ accuracy, frechet }) => ({ accuracy, frechet }));
    const sampling = { n: 2, sampler: 'ddim', steps: 2, seed: 5, batchSize: 3 } as const;
    const prompts = held.prompts.map((p) => p.prompt);
    assert.deepEqual(measured, [
      expect(held.images),
      expect(generate(ldm, { ...sampling, prompts, guidance: 3 })),
      expect(generate(ldm, { ...sampling, prompts: '', guidance: 1 })),
    ]);

    const otherSeed = evaluateTextConditional(ldm, classifier, splits, SETTINGS.slice(0, 1), { ...OPTIONS, seed: 6 });
    assert.equal(otherSeed[0].frechet, rows[0].frechet, 'real images do not depend on the seed');
    assert.notEqual(otherSeed[1].frechet, rows[1].frechet);
  });

  test('the control samples unguided: with the empty prompt, guidance changes nothing', () => {
    const sampling = { n: 2, steps: 2, seed: 1, prompts: '' };
    const unguided = generate(ldm, { ...sampling, guidance: 1 }).data;
    const guided = generate(ldm, { ...sampling, guidance: 4 }).data;
    for (let i = 0; i < unguided.length; i++) assert.ok(Math.abs(guided[i] - unguided[i]) < 1e-4, `value ${i}`);
  });

  test('refuses a model without text, data without captions or labels, and rows too small to measure', async () => {
    const classModel = trainer(writeTinyLdmConfig(dir, 'class.yaml'), captioned, 'class', 1).ldm;
    assert.throws(
      () => evaluateTextConditional(classModel, classifier, splits, SETTINGS, OPTIONS),
      /evaluateTextConditional: the model is not text-conditional/,
    );
    const plain = openTrainingData(`folder:${writeClassFolder(path.join(dir, 'plain'))}`, 16, 3);
    assert.throws(
      () => evaluateTextConditional(ldm, classifier, { train: plain.train, test: heldOutSplit(plain) }, SETTINGS),
      /has no captions \(example 0\): a text model is judged on held-out captions/,
    );
    assert.throws(
      () => evaluateTextConditional(ldm, classifier, splits, SETTINGS, { ...OPTIONS, limit: 1 }),
      /1 held-out example; the Frechet distance needs 2/,
    );
    assert.throws(
      () => evaluateTextConditional(ldm, classifier, splits, SETTINGS, { ...OPTIONS, limit: 3 }),
      /limit must be an integer in 1\.\.2/,
    );
    assert.throws(() => evaluateTextConditional(ldm, classifier, splits, []), /at least one sampler setting/);
  });
});

/** A test split of `length` 1x8x8 examples whose captions and labels say their index. */
function fakeSplit(length: number, sample: (index: number) => Partial<Sample>): Dataset {
  return {
    name: 'fake/test',
    length,
    channels: 1,
    size: 8,
    classNames: ['a', 'b', 'c'],
    get: (index) => ({ image: new Float32Array(64).fill(index / length), ...sample(index) }),
  };
}

describe('heldOutPrompts', () => {
  test('spreads a limit evenly over the split; the prompt is the first caption', () => {
    const split = fakeSplit(10, (i) => ({
      label: i % 3,
      caption: i % 2 === 0 ? [`name ${i}`, 'keyword'] : `name ${i}`,
    }));
    const { prompts, images } = heldOutPrompts(split, 4);
    assert.deepEqual(prompts, [
      { index: 0, prompt: 'name 0', label: 0 },
      { index: 2, prompt: 'name 2', label: 2 },
      { index: 5, prompt: 'name 5', label: 2 },
      { index: 7, prompt: 'name 7', label: 1 },
    ]);
    assert.deepEqual(images.shape, [4, 1, 8, 8]);
    assert.equal(images.data[2 * 64], 0.5);
    assert.equal(heldOutPrompts(split).prompts.length, 10);
  });

  test('refuses examples without a label', () => {
    assert.throws(() => heldOutPrompts(fakeSplit(3, () => ({ caption: 'x' }))), /fake\/test has no labels/);
  });
});
