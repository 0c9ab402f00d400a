// A long Adam loop must not allocate per step: buffers come on a parameter's first step and
// are reused. That holds once V8 has optimized the loops (interpreted code boxes doubles, so
// the first few thousand steps make a little garbage). See allocation.ts for the measure.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { Adam, EMA } from '../../src/optim/index.js';
import { STEPS, WARMUP_STEPS, allocatedBytes, makeProblem } from './allocation.js';

test(`${STEPS} Adam steps with EMA allocate nothing`, (t) => {
  const { params, computeGradients, loss } = makeProblem();
  const optimizer = new Adam(params, { lr: 1e-2 });
  const ema = new EMA(params, { decay: 0.99 });
  const trainStep = (): void => {
    computeGradients();
    optimizer.step();
    ema.update();
  };
  trainStep();
  const firstLoss = loss[0];
  for (let i = 0; i < WARMUP_STEPS; i++) trainStep();
  // A few KB is the measurement itself (the statistics objects); one allocation per step is more.
  const limit = 8 * 1024;
  const bytes = allocatedBytes(() => {
    for (let i = 0; i < STEPS; i++) trainStep();
  }, limit);
  t.diagnostic(`allocated over ${STEPS} steps: ${bytes} bytes`);
  assert.ok(loss[0] < 1e-3 * firstLoss, `the loss did not fall: ${firstLoss} -> ${loss[0]}`);
  assert.ok(bytes < limit, `${STEPS} steps allocated ${bytes} bytes`);

  // Control: the measure sees one 8-element Float32Array per step.
  const keep = new Array<Float32Array>(STEPS);
  const control = allocatedBytes(() => {
    for (let i = 0; i < STEPS; i++) keep[i] = new Float32Array(8);
  });
  t.diagnostic(`control (one Float32Array(8) per step): ${control} bytes`);
  assert.ok(control > 64 * 1024, `the control loop shows only ${control} bytes`);
});
