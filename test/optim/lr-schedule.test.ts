import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import {
  SGD,
  applyLRSchedule,
  constantSchedule,
  cosineWarmupSchedule,
  lambdaLinearSchedule,
  linearWarmupSchedule,
  setLearningRate,
} from '../../src/optim/index.js';
import { Tensor } from '../../src/tensor/tensor.js';

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
}

describe('LR schedules', () => {
  test('constant and linear warm-up', () => {
    assert.equal(constantSchedule()(12345), 1);
    const warm = linearWarmupSchedule(4);
    assert.deepEqual([0, 1, 2, 3, 4, 100].map(warm), [0, 0.25, 0.5, 0.75, 1, 1]);
    assert.equal(linearWarmupSchedule(0)(0), 1);
  });

  test('cosine with warm-up', () => {
    const cosine = cosineWarmupSchedule({ warmupSteps: 10, totalSteps: 110 });
    close(cosine(5), 0.5);
    close(cosine(10), 1);
    close(cosine(60), 0.5); // half-way: 0.5 * (1 + cos(pi / 2))
    close(cosine(35), 0.5 * (1 + Math.cos(Math.PI / 4)));
    close(cosine(110), 0);
    close(cosine(500), 0);
    const floored = cosineWarmupSchedule({ warmupSteps: 0, totalSteps: 100, minFactor: 0.1 });
    close(floored(0), 1);
    close(floored(50), 0.55);
    close(floored(100), 0.1);
  });

  test("LDM's LambdaLinearScheduler: Stable Diffusion v1 settings", () => {
    const sd = lambdaLinearSchedule({
      warmUpSteps: [10000],
      fStart: [1e-6],
      fMax: [1],
      fMin: [1],
      cycleLengths: [1e13],
    });
    close(sd(0), 1e-6);
    close(sd(5000), ((1 - 1e-6) / 10000) * 5000 + 1e-6);
    close(sd(10000), 1);
    close(sd(1_000_000), 1);
  });

  test("LDM's LambdaLinearScheduler: two cycles, boundaries, and past the end", () => {
    const s = lambdaLinearSchedule({
      warmUpSteps: [2, 3],
      fStart: [0, 0.1],
      fMax: [1, 0.5],
      fMin: [0.2, 0.1],
      cycleLengths: [10, 10],
    });
    close(s(1), 0.5); // warm-up: 0 + (1 - 0) / 2 * 1
    close(s(2), 0.2 + 0.8 * (8 / 10)); // decay: fMin + (fMax - fMin) * (length - n) / length
    close(s(10), 0.2); // a boundary step belongs to the first cycle
    close(s(11), 0.1 + (0.4 / 3) * 1); // second cycle, n = 1
    close(s(20), 0.1);
    close(s(25), 0.1); // past the last cycle: its fMin
    assert.throws(
      () => lambdaLinearSchedule({ warmUpSteps: [1], fStart: [0, 0], fMax: 1, fMin: 1, cycleLengths: [5] }),
      /fStart has 2 entries; every option needs one per cycle \(1\)/,
    );
  });

  test('applyLRSchedule scales each group from its initial lr; setLearningRate sets all', () => {
    const optimizer = new SGD([{ params: [Tensor.zeros([1])], lr: 2 }, { params: [Tensor.zeros([1])] }], { lr: 0.5 });
    assert.equal(applyLRSchedule(optimizer, linearWarmupSchedule(4), 1), 0.25);
    assert.deepEqual(
      optimizer.paramGroups.map((g) => g.lr),
      [0.5, 0.125],
    );
    setLearningRate(optimizer, 0.01);
    assert.deepEqual(
      optimizer.paramGroups.map((g) => [g.lr, g.initialLr]),
      [
        [0.01, 2],
        [0.01, 0.5],
      ],
    );
    assert.throws(() => constantSchedule()(-1), /step must be an integer >= 0, got -1/);
  });
});
