// A trainer's step (LR schedule, clipping, AdamW, EMA) allocates at most the numbers that
// applyLRSchedule and clipGradNorm return: V8 boxes a returned float (16 bytes) when it does
// not inline the call. A parameter-sized buffer per step would be kilobytes. See
// allocation.ts for the measure.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { AdamW, EMA, applyLRSchedule, clipGradNorm, cosineWarmupSchedule } from '../../src/optim/index.js';
import { STEPS, WARMUP_STEPS, allocatedBytes, makeProblem } from './allocation.js';

test(`${STEPS} trainer steps allocate at most a boxed number per call`, (t) => {
  const { params, computeGradients } = makeProblem();
  const optimizer = new AdamW(params, { lr: 1e-2, weightDecay: 1e-4, amsgrad: true });
  const ema = new EMA(params);
  const schedule = cosineWarmupSchedule({ warmupSteps: 100, totalSteps: 10 * STEPS });
  let step = 0;
  const trainStep = (): void => {
    applyLRSchedule(optimizer, schedule, step++);
    computeGradients();
    clipGradNorm(params, 0.5);
    optimizer.step();
    ema.update();
  };
  for (let i = 0; i < WARMUP_STEPS; i++) trainStep();
  const limit = 48 * STEPS;
  const bytes = allocatedBytes(() => {
    for (let i = 0; i < STEPS; i++) trainStep();
  }, limit);
  t.diagnostic(`allocated over ${STEPS} steps: ${bytes} bytes`);
  assert.ok(bytes < limit, `${STEPS} steps allocated ${bytes} bytes`);
});
