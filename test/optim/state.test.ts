import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { SafetensorsFile, readSafetensors, writeSafetensors, type TensorRecord } from '../../src/io/safetensors.js';
import {
  Adam,
  AdamW,
  EMA,
  SGD,
  applyLRSchedule,
  cosineWarmupSchedule,
  emaStateFromTensors,
  emaStateToTensors,
  optimizerStateFromTensors,
  optimizerStateToTensors,
  type BaseHyperParams,
  type Optimizer,
} from '../../src/optim/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { makeParams, setGradients } from './quadratic.js';

const dir = fs.mkdtempSync(join(tmpdir(), 'ldm-optim-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const NAMES = ['layer.weight', 'layer.bias'];
const schedule = cosineWarmupSchedule({ warmupSteps: 3, totalSteps: 12 });

type Make = (named: [string, Tensor][]) => Optimizer<BaseHyperParams>;
const OPTIMIZERS: Record<string, Make> = {
  'SGD nesterov': (named) => new SGD(named, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
  'Adam amsgrad': (named) => new Adam(named, { lr: 0.05, weightDecay: 1e-2, amsgrad: true }),
  'AdamW groups': (named) =>
    new AdamW([{ params: [named[0]] }, { params: [named[1]], lr: 0.01, weightDecay: 0 }], { lr: 0.05 }),
};

interface Run {
  params: [Tensor, Tensor];
  optimizer: Optimizer<BaseHyperParams>;
  ema: EMA;
}

function start(make: Make, params = makeParams()): Run {
  const named = params.map((p, i) => [NAMES[i], p] as [string, Tensor]);
  return { params, optimizer: make(named), ema: new EMA(named, { decay: 0.9 }) };
}

/** Training steps from..to-1: schedule, gradients, step, EMA. */
function train(run: Run, from: number, to: number): void {
  const [p1, p2] = run.params;
  for (let step = from; step < to; step++) {
    applyLRSchedule(run.optimizer, schedule, step);
    setGradients(p1, p2);
    if (step === 1) p2.grad = null; // one parameter misses a step: its step count falls behind
    run.optimizer.step();
    run.optimizer.zeroGrad();
    run.ema.update();
  }
}

/** One checkpoint file: weights, optimizer state and EMA, as a trainer saves it. */
function save(run: Run, path: string): void {
  const optimizer = optimizerStateToTensors(run.optimizer.stateDict());
  const ema = emaStateToTensors(run.ema.stateDict());
  const tensors = new Map<string, TensorRecord>([...optimizer.tensors, ...ema.tensors]);
  run.params.forEach((p, i) => tensors.set(NAMES[i], { shape: [...p.shape], data: p.data }));
  writeSafetensors(path, tensors, { optimizer: optimizer.json, ema: ema.json });
}

function resume(make: Make, path: string): Run {
  const tensors = readSafetensors(path);
  const params = NAMES.map((name) => {
    const record = tensors.get(name)!;
    return new Tensor(record.data, record.shape).requireGrad();
  }) as [Tensor, Tensor];
  const run = start(make, params);
  const file = SafetensorsFile.open(path);
  const metadata = file.metadata;
  file.close();
  run.optimizer.loadStateDict(optimizerStateFromTensors(tensors, metadata.optimizer));
  run.ema.loadStateDict(emaStateFromTensors(tensors, metadata.ema));
  return run;
}

describe('save -> load -> continue equals an uninterrupted run, bit for bit', () => {
  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    test(name, () => {
      const straight = start(make);
      train(straight, 0, 10);

      const first = start(make);
      train(first, 0, 4);
      const path = join(dir, `${name.replaceAll(' ', '-')}.safetensors`);
      save(first, path);
      const resumed = resume(make, path);
      train(resumed, 4, 10);

      resumed.params.forEach((p, i) => assert.deepEqual(p.data, straight.params[i].data, `param ${i}`));
      assert.deepEqual(resumed.optimizer.stateDict(), straight.optimizer.stateDict());
      assert.deepEqual(resumed.ema.stateDict(), straight.ema.stateDict());
    });
  }
});

describe('loadStateDict and the tensor conversion validate', () => {
  function trained(): { optimizer: Adam; params: [Tensor, Tensor] } {
    const params = makeParams();
    const optimizer = new Adam(params.map((p, i) => [NAMES[i], p] as [string, Tensor]));
    setGradients(...params);
    optimizer.step();
    return { optimizer, params };
  }

  test('optimizer kind, groups, names and shapes', () => {
    const saved = trained().optimizer.stateDict();
    const [p1, p2] = makeParams();
    assert.throws(() => new AdamW([p1, p2]).loadStateDict(saved), /the state is from a Adam optimizer, not AdamW/);
    assert.throws(
      () => new Adam([{ params: [p1] }, { params: [p2] }]).loadStateDict(saved),
      /the state has 1 parameter groups, this optimizer has 2/,
    );
    assert.throws(() => new Adam([p1]).loadStateDict(saved), /group 0 has 2 parameters in the state, 1 here/);
    assert.throws(
      () =>
        new Adam([
          ['other', p1],
          [NAMES[1], p2],
        ]).loadStateDict(saved),
      /parameter 0 is "other" here but "layer.weight" in the state/,
    );
    assert.throws(
      () => new Adam([Tensor.zeros([3, 2]), p2]).loadStateDict(saved),
      /Adam.loadStateDict: parameter 0 has shape \[3, 2\] here, \[2, 3\] in the state/,
    );
    assert.throws(
      () =>
        new Adam([p1, p2], { amsgrad: true }).loadStateDict({
          ...saved,
          paramGroups: [{ ...saved.paramGroups[0], hyper: { ...saved.paramGroups[0].hyper, amsgrad: true } }],
        }),
      /parameter 0 has buffers \[exp_avg, exp_avg_sq\], expected \[exp_avg, exp_avg_sq, max_exp_avg_sq\]/,
    );
    // A failed load changes nothing: here the second parameter's state is bad, the first fine.
    const { optimizer } = trained();
    const before = optimizer.stateDict();
    const bad = optimizer.stateDict();
    bad.paramGroups[0].hyper.lr = 0.5;
    bad.state[0].step = 7;
    bad.state[1].buffers.exp_avg = new Float32Array(2);
    assert.throws(
      () => optimizer.loadStateDict(bad),
      /buffer "exp_avg" of parameter 1 has 2 values, expected 3 float32 values/,
    );
    assert.deepEqual(optimizer.stateDict(), before);
  });

  test('hyper-parameters and lr come back from the state', () => {
    const saved = trained().optimizer.stateDict();
    saved.paramGroups[0].hyper.lr = 0.123;
    const [p1, p2] = makeParams();
    const optimizer = new Adam([p1, p2]);
    optimizer.loadStateDict(saved);
    assert.equal(optimizer.paramGroups[0].lr, 0.123);
    assert.equal(optimizer.paramGroups[0].initialLr, 1e-3);
  });

  test('missing, misshapen and unexpected tensors', () => {
    const { tensors, json } = optimizerStateToTensors(trained().optimizer.stateDict());
    const without = new Map(tensors);
    without.delete('optimizer.state.1.exp_avg');
    assert.throws(() => optimizerStateFromTensors(without, json), /tensor "optimizer.state.1.exp_avg" is missing/);
    const reshaped = new Map(tensors);
    reshaped.set('optimizer.state.0.exp_avg', { shape: [6], data: new Float32Array(6) });
    assert.throws(
      () => optimizerStateFromTensors(reshaped, json),
      /"optimizer.state.0.exp_avg" has shape \[6\], expected \[2, 3\]/,
    );
    const extra = new Map(tensors);
    extra.set('optimizer.state.7.exp_avg', { shape: [1], data: new Float32Array(1) });
    assert.throws(() => optimizerStateFromTensors(extra, json), /"optimizer.state.7.exp_avg" is not described/);
    assert.throws(() => optimizerStateFromTensors(tensors, '{'), /the state JSON does not parse/);
    assert.throws(
      () => optimizerStateFromTensors(tensors, '{"format":"x"}'),
      /expected format "latent-diffusion.optimizer\/1"/,
    );
  });

  test('EMA tensors use LitEma names (dots removed)', () => {
    const ema = new EMA([['model.diffusion_model.out.0.weight', Tensor.zeros([2])]]);
    const { tensors } = emaStateToTensors(ema.stateDict());
    assert.deepEqual([...tensors.keys()], ['model_ema.modeldiffusion_modelout0weight']);
    const clash = new EMA([
      ['a.bc', Tensor.zeros([1])],
      ['ab.c', Tensor.zeros([1])],
    ]);
    assert.throws(() => emaStateToTensors(clash.stateDict()), /two parameters map to the tensor name "model_ema.abc"/);
  });
});
