#!/usr/bin/env node
// Trains the evaluation classifier of `ldm eval` (src/eval/) on a labelled data spec and reports its
// training time and held-out accuracy: the figure behind "98% on MNIST in about a minute".
// Usage (after `npm run build`):
//   node scripts/train-classifier.mjs [--data mnist] [--steps 1000] [--batch-size 64] [--size px]
//                                    [--threads N] [--out file]
// It runs loadOrTrainClassifier, as `ldm eval` does: --out names the cache file (default: a fresh temporary one).
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { data, getNumThreads, setNumThreads } from '../dist/src/index.js';
import { CLASSIFIER_TRAINING_DEFAULTS, loadOrTrainClassifier } from '../dist/src/eval/index.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: 'mnist' },
    steps: { type: 'string' },
    'batch-size': { type: 'string' },
    threads: { type: 'string' },
    size: { type: 'string' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
if (values.threads !== undefined) setNumThreads(Number(values.threads));
const size = values.size === undefined ? undefined : Number(values.size);
const train = data.parseDataSpec(values.data, { split: 'train', size });
const test = data.parseDataSpec(values.data, { split: 'test', size });
const options = {
  steps: Number(values.steps ?? CLASSIFIER_TRAINING_DEFAULTS.steps),
  batchSize: Number(values['batch-size'] ?? CLASSIFIER_TRAINING_DEFAULTS.batchSize),
  seed: Number(values.seed),
};

const load = () => loadavg()[0].toFixed(2);
console.log(
  `${train.name} (${train.length}) -> ${test.name} (${test.length}), ${train.channels}x${train.size}x${train.size}, ` +
    `${options.steps} steps of ${options.batchSize}, threads ${getNumThreads()}, ` +
    `OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? '(unset)'}, load average ${load()}`,
);
// A fresh file unless --out names one (an existing, fitting --out file is loaded, not retrained).
const file = values.out ?? join(mkdtempSync(join(tmpdir(), 'ldm-classifier-')), 'classifier.safetensors');
const started = performance.now();
const { testAccuracy, trained } = loadOrTrainClassifier(file, train, test, {
  ...options,
  log: (line) =>
    console.log(`${line}  [${((performance.now() - started) / 1000).toFixed(1)} s, load average ${load()}]`),
  onProgress: ({ step, steps, loss, accuracy }) => {
    if (step % 100 === 0 || step === steps) {
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `step ${step}/${steps}  loss ${loss.toFixed(4)}  batch accuracy ${accuracy.toFixed(3)}  ${seconds.toFixed(1)} s`,
      );
    }
  },
});
console.log(`${trained ? 'trained' : 'loaded'} ${file}: test accuracy ${(testAccuracy * 100).toFixed(2)}%`);
