// The evaluation classifier: shapes and names, a short training run on an MNIST subset, the cached
// file's round trip, and the metric helpers. Single-threaded like the trainer tests: node --test
// runs files side by side, and short kernels gain nothing from a second thread.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Generator, Tensor, data, getNumThreads, setNumThreads, writeSafetensors } from '../../src/index.js';
import type { Dataset } from '../../src/data/index.js';
import {
  ImageClassifier,
  balancedAccuracy,
  classifierAccuracy,
  datasetAccuracy,
  datasetImages,
  imageFeatures,
  loadOrTrainClassifier,
  predictClasses,
  trainClassifier,
} from '../../src/eval/index.js';

const threads = getNumThreads();
before(() => setNumThreads(1));
after(() => setNumThreads(threads));

/** The first `count` samples of a dataset. */
function subset(dataset: Dataset, count: number): Dataset {
  return {
    name: `${dataset.name}[:${count}]`,
    length: count,
    channels: dataset.channels,
    size: dataset.size,
    classNames: dataset.classNames,
    get: (index) => dataset.get(index),
  };
}

const mnistTrain = subset(data.mnist({ split: 'train', size: 32 }), 1024);
const mnistTest = subset(data.mnist({ split: 'test', size: 32 }), 500);
/** Few enough steps for a test: about 0.5 s on one thread. */
const SHORT = { steps: 40, batchSize: 32, width: 16 };

describe('ImageClassifier', () => {
  test('shapes: logits [N, classes], features [N, 128]; stages until the map is 4x4', () => {
    const classifier = new ImageClassifier({ channels: 1, size: 32, numClasses: 10 });
    const x = Tensor.randn([3, 1, 32, 32], new Generator(1));
    assert.deepEqual(classifier.forward(x).shape, [3, 10]);
    assert.deepEqual(classifier.features(x).shape, [3, 128]);
    assert.equal(classifier.stages.length, 3);
    const names = [...classifier.stateDict().keys()];
    assert.deepEqual(names.slice(0, 4), [
      'stages.0.conv.weight',
      'stages.0.conv.bias',
      'stages.0.norm.weight',
      'stages.0.norm.bias',
    ]);
    assert.deepEqual(names.slice(-4), ['fc.weight', 'fc.bias', 'head.weight', 'head.bias']);
    assert.deepEqual(classifier.fc.weight.shape, [128, 128 * 4 * 4]);

    const emoji = new ImageClassifier({ channels: 3, size: 64, numClasses: 10, width: 8, featureDim: 64 });
    assert.equal(emoji.stages.length, 4);
    assert.deepEqual(emoji.features(Tensor.zeros([2, 3, 64, 64])).shape, [2, 64]);
    const odd = new ImageClassifier({ channels: 1, size: 28, numClasses: 10, width: 8 }); // 28 -> 14 -> 7 -> 4
    assert.equal(odd.finalSide, 4);
  });

  test('rejects bad options and wrong inputs', () => {
    assert.throws(() => new ImageClassifier({ channels: 2, size: 32, numClasses: 10 }), /channels must be 1 or 3/);
    assert.throws(() => new ImageClassifier({ channels: 1, size: 4, numClasses: 10 }), /size must be at least 8/);
    assert.throws(() => new ImageClassifier({ channels: 1, size: 32, numClasses: 1 }), /numClasses must be at least 2/);
    const classifier = new ImageClassifier({ channels: 1, size: 32, numClasses: 10, width: 8 });
    assert.throws(
      () => classifier.forward(Tensor.zeros([1, 3, 32, 32])),
      /expected images \[N, 1, 32, 32\], got \[1, 3, 32, 32\]/,
    );
  });
});

describe('training', () => {
  test('a few dozen steps on 1024 MNIST digits beat chance (10%) clearly', () => {
    const classifier = trainClassifier(mnistTrain, SHORT);
    assert.equal(classifier.training, false);
    const accuracy = datasetAccuracy(classifier, mnistTest);
    assert.ok(accuracy > 0.5, `test accuracy ${accuracy}`);
  });

  test('reports progress, and needs labels', () => {
    const seen: number[] = [];
    trainClassifier(mnistTrain, {
      steps: 3,
      batchSize: 8,
      width: 8,
      onProgress: ({ step, loss }) => {
        assert.ok(Number.isFinite(loss));
        seen.push(step);
      },
    });
    assert.deepEqual(seen, [1, 2, 3]);
    const unlabelled: Dataset = { ...mnistTrain, classNames: undefined, get: mnistTrain.get };
    assert.throws(() => trainClassifier(unlabelled, { steps: 1 }), /no class labels/);
    assert.throws(() => trainClassifier(mnistTrain, { steps: 0 }), /steps must be a positive integer/);
    // An option passed as undefined (an absent CLI flag) takes its default.
    assert.throws(() => trainClassifier(mnistTrain, { steps: undefined, batchSize: -1 }), /batchSize must be/);
  });
});

describe('loadOrTrainClassifier', () => {
  test('trains once, then loads the same weights; retrains when the settings change', () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'ldm-eval-'));
    const file = join(dir, 'nested', 'classifier.safetensors');
    const lines: string[] = [];
    const options = { steps: 4, batchSize: 16, width: 8, log: (line: string) => lines.push(line) };
    const first = loadOrTrainClassifier(file, mnistTrain, mnistTest, options);
    assert.equal(first.trained, true);
    assert.ok(fs.existsSync(file));
    const second = loadOrTrainClassifier(file, mnistTrain, mnistTest, options);
    assert.equal(second.trained, false);
    assert.equal(second.testAccuracy, first.testAccuracy);
    const { images } = datasetImages(mnistTest, { count: 20 });
    assert.deepEqual(second.classifier.forward(images).data, first.classifier.forward(images).data);
    assert.ok(
      lines.some((line) => line.includes('loaded')),
      lines.join('\n'),
    );

    const third = loadOrTrainClassifier(file, mnistTrain, mnistTest, { ...options, steps: 5 });
    assert.equal(third.trained, true);
    assert.ok(
      lines.some((line) => line.includes('steps is 4, wanted 5')),
      lines.join('\n'),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('never overwrites a file that is not a classifier', () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'ldm-eval-'));
    const file = join(dir, 'model.safetensors');
    fs.writeFileSync(file, 'not a safetensors file at all');
    assert.throws(() => loadOrTrainClassifier(file, mnistTrain, mnistTest, { steps: 1, width: 8 }));
    assert.equal(fs.readFileSync(file, 'utf8'), 'not a safetensors file at all');
    writeSafetensors(file, { 'conv.weight': Tensor.ones([2, 2]) });
    const before = fs.readFileSync(file);
    assert.throws(
      () => loadOrTrainClassifier(file, mnistTrain, mnistTest, { steps: 1, width: 8 }),
      /is not an image classifier file/,
    );
    assert.deepEqual(fs.readFileSync(file), before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('metric helpers', () => {
  const classifier = new ImageClassifier({ channels: 1, size: 32, numClasses: 10, width: 8 }, new Generator(4));
  const { images } = datasetImages(mnistTest, { count: 10 });

  test('classifierAccuracy is the share of predictions equal to the labels', () => {
    const predicted = Array.from(predictClasses(classifier, images, 3));
    assert.equal(classifierAccuracy(classifier, images, predicted), 1);
    const labels = predicted.map((k, i) => (i < 3 ? (k + 1) % 10 : k));
    assert.equal(classifierAccuracy(classifier, images, labels), 0.7);
    assert.throws(() => classifierAccuracy(classifier, images, [1, 2]), /2 labels for images \[10, 1, 32, 32\]/);
  });

  test('balancedAccuracy weights every class present alike', () => {
    // Class 0: 3 of 4 right; class 1: 0 of 1; class 2: 1 of 1 -> (0.75 + 0 + 1) / 3.
    assert.equal(balancedAccuracy([0, 0, 0, 5, 0, 2], [0, 0, 0, 0, 1, 2]), 1.75 / 3);
    assert.equal(balancedAccuracy([1, 1], [1, 1]), 1);
    assert.throws(() => balancedAccuracy([1], [1, 2]), /1 predictions for 2 labels/);
  });

  test('batching does not change predictions or features', () => {
    assert.deepEqual(predictClasses(classifier, images, 3), predictClasses(classifier, images, 10));
    const all = imageFeatures(classifier, images);
    assert.deepEqual(all.shape, [10, 128]);
    assert.deepEqual(imageFeatures(classifier, images, 4).data, all.data);
    assert.deepEqual(all.data, classifier.features(images).data);
  });

  test('datasetImages stacks images with their labels', () => {
    const { images: some, labels } = datasetImages(mnistTest, { start: 2, count: 3 });
    assert.deepEqual(some.shape, [3, 1, 32, 32]);
    assert.deepEqual(
      labels,
      [2, 3, 4].map((i) => mnistTest.get(i).label),
    );
    assert.deepEqual(some.data.subarray(1024, 2048), mnistTest.get(3).image);
    assert.throws(() => datasetImages(mnistTest, { start: 499, count: 2 }), /has 500 images, asked for \[499, 501\)/);
  });
});
