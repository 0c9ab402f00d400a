// The first-stage trainer on a tiny model: the loss goes down, a resumed run matches an
// uninterrupted one bit for bit (weights, discriminator, both Adam states, EMA), checkpoints
// hold what they say, and an interrupt saves a checkpoint.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadAutoencoderCheckpoint, loadAutoencoderConfig, setNumThreads, type VQModel } from '../../src/index.js';
import {
  AutoencoderTrainer,
  MODEL_FILE,
  EMA_FILE,
  OPTIMIZERS_FILE,
  TRAINER_STATE_FILE,
  readRunLog,
  type AutoencoderTrainerOptions,
} from '../../src/train/index.js';
import { syntheticData, writeTinyConfig } from './tiny-setup.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-trainer-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
// One compute thread: test files run beside each other, and two threads each on two cores
// oversubscribe the machine (the results are the same either way).
before(() => setNumThreads(1));

let runs = 0;
function options(overrides: Partial<AutoencoderTrainerOptions> = {}): AutoencoderTrainerOptions {
  const config = loadAutoencoderConfig(writeTinyConfig(dir, 'kl.yaml', { discStart: 2 }));
  return {
    config,
    data: syntheticData(1),
    outDir: path.join(dir, `run-${runs++}`),
    steps: 6,
    learningRate: 1e-3,
    checkpointEvery: 0,
    sampleEvery: 0,
    evalSamples: 8,
    ...overrides,
  };
}

/** Every number a run's future depends on, copied. */
function snapshot(trainer: AutoencoderTrainer): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [key, t] of trainer.model.stateDict()) out.set(`model.${key}`, t.data.slice());
  for (const [key, t] of trainer.loss.stateDict()) out.set(`loss.${key}`, t.data.slice());
  for (const [name, optimizer] of [
    ['ae', trainer.aeOptimizer],
    ['disc', trainer.discOptimizer],
  ] as const) {
    for (const [index, state] of Object.entries(optimizer.stateDict().state)) {
      out.set(`${name}.${index}.step`, Float32Array.of(state.step));
      for (const [buffer, data] of Object.entries(state.buffers)) out.set(`${name}.${index}.${buffer}`, data);
    }
  }
  trainer.ema?.stateDict().shadow.forEach((s, k) => out.set(`ema.${k}`, s));
  return out;
}

function assertBitEqual(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [key, values] of a) {
    const other = b.get(key)!;
    const same =
      Buffer.compare(
        Buffer.from(values.buffer, values.byteOffset, values.byteLength),
        Buffer.from(other.buffer, other.byteOffset, other.byteLength),
      ) === 0;
    assert.ok(same, `${key} differs`);
  }
}

describe('AutoencoderTrainer', () => {
  test('a tiny KL autoencoder lowers its reconstruction loss', async () => {
    // Without the GAN terms (disc_start far away), the reconstruction loss alone is followed.
    const config = loadAutoencoderConfig(writeTinyConfig(dir, 'kl-no-gan.yaml', { discStart: 1000 }));
    const trainer = AutoencoderTrainer.create(options({ config, steps: 24, logEvery: 1 }));
    const result = await trainer.run();
    assert.equal(result.reason, 'finished');
    assert.equal(result.step, 24);
    const rec = readRunLog(path.join(trainer.outDir, 'log.jsonl'))
      .filter((r) => r.event === 'train')
      .map((r) => r['train/rec_loss'] as number);
    assert.equal(rec.length, 24);
    const first = (rec[0] + rec[1] + rec[2]) / 3;
    const last = (rec[21] + rec[22] + rec[23]) / 3;
    assert.ok(last < 0.7 * first, `rec_loss ${first} -> ${last}`);
    assert.ok(result.metrics !== null && result.metrics.psnr > 10, `psnr ${result.metrics?.psnr}`);
    assert.ok(result.metrics.ssim !== null && result.metrics.ssim > 0 && result.metrics.ssim <= 1);
  });

  test('resume continues bit-exactly: 6 steps equal 3 + checkpoint + 3 (EMA, accumulation, discriminator on)', async () => {
    const settings = { steps: 6, emaDecay: 0.9, accumulate: 2, batchSize: 2, randomFlip: true };
    const whole = AutoencoderTrainer.create(options(settings));
    await whole.run();

    const first = AutoencoderTrainer.create(options({ ...settings, steps: 3 }));
    const stopped = await first.run();
    assert.equal(stopped.step, 3);
    const resumed = AutoencoderTrainer.resume(first.outDir, { steps: 6, data: syntheticData(1) });
    assert.equal(resumed.step, 3);
    const end = await resumed.run();
    assert.equal(end.step, 6);
    assert.ok(resumed.loss.discriminator.parameters().length > 0);
    assertBitEqual(snapshot(whole), snapshot(resumed));
    assert.deepEqual(resumed.metrics, whole.metrics);
  });

  test('a checkpoint holds the files it documents, loadable on their own', async () => {
    const trainer = AutoencoderTrainer.create(
      options({ steps: 2, emaDecay: 0.99, checkpointEvery: 1, keepCheckpoints: 1 }),
    );
    await trainer.run();
    const checkpoints = fs.readdirSync(path.join(trainer.outDir, 'checkpoints'));
    assert.deepEqual(checkpoints, ['step-000002']); // keepCheckpoints: 1 removed step 1
    assert.equal(fs.readFileSync(path.join(trainer.outDir, 'last'), 'utf8').trim(), 'checkpoints/step-000002');
    const ckpt = path.join(trainer.outDir, 'checkpoints', 'step-000002');
    for (const file of [MODEL_FILE, EMA_FILE, OPTIMIZERS_FILE, TRAINER_STATE_FILE]) {
      assert.ok(fs.existsSync(path.join(ckpt, file)), file);
    }
    const state = JSON.parse(fs.readFileSync(path.join(ckpt, TRAINER_STATE_FILE), 'utf8'));
    assert.equal(state.step, 2);
    assert.equal(state.settings.batchSize, 4);
    assert.ok(state.metrics.psnr > 0);
    // model.safetensors (with loss.*) and ema.safetensors load as plain first-stage checkpoints.
    const fresh = AutoencoderTrainer.create(options({ steps: 1 })).model;
    const { loss } = loadAutoencoderCheckpoint(fresh, path.join(ckpt, MODEL_FILE));
    assert.ok(loss.has('discriminator.main.0.weight'));
    assert.deepEqual(
      fresh.stateDict().get('decoder.conv_out.weight')!.data,
      trainer.model.stateDict().get('decoder.conv_out.weight')!.data,
    );
    loadAutoencoderCheckpoint(fresh, path.join(ckpt, EMA_FILE));
    const events = readRunLog(path.join(trainer.outDir, 'log.jsonl')).map((r) => r.event);
    assert.deepEqual(
      events.filter((e) => e !== 'train'),
      ['start', 'eval', 'checkpoint', 'samples', 'eval', 'checkpoint', 'end'],
    );
  });

  test('an aborted run saves a checkpoint it can resume from', async () => {
    const trainer = AutoencoderTrainer.create(options({ steps: 50 }));
    const controller = new AbortController();
    const origin = trainer.trainStep.bind(trainer);
    trainer.trainStep = () => {
      const result = origin();
      if (result.step === 2) controller.abort();
      return result;
    };
    const result = await trainer.run({ signal: controller.signal });
    assert.equal(result.reason, 'interrupted');
    assert.equal(result.step, 2);
    const resumed = AutoencoderTrainer.resume(result.checkpoint!, { steps: 3, data: syntheticData(1) });
    assert.equal(resumed.step, 2);
    assert.equal((await resumed.run()).step, 3);
  });

  test('a VQ model trains, with its codebook in the autoencoder optimizer, and refuses a used run directory', async () => {
    const config = loadAutoencoderConfig(writeTinyConfig(dir, 'vq.yaml', { kind: 'vq', discStart: 1 }));
    const trainer = AutoencoderTrainer.create(options({ config, steps: 2 }));
    const codebook = (trainer.model as VQModel).quantize.embedding.weight.data.slice();
    const result = await trainer.run();
    assert.equal(result.step, 2);
    assert.notDeepEqual((trainer.model as VQModel).quantize.embedding.weight.data, codebook);
    const log = readRunLog(path.join(trainer.outDir, 'log.jsonl')).filter((r) => r.event === 'train');
    assert.ok(Number.isFinite(log.at(-1)!['train/quant_loss']) && Number.isFinite(log.at(-1)!['train/disc_loss']));
    assert.throws(
      () => AutoencoderTrainer.create(options({ config, outDir: trainer.outDir })),
      /already holds a training run/,
    );
  });
});
