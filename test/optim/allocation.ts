// Measuring what a loop allocates, for the memory tests.
//
// V8's gc() is exposed with --expose-gc set at run time (node --test runs each test file in
// its own process, so the flag touches nothing else). After a full GC the young generation is
// empty; the growth of its used size plus process.memoryUsage().arrayBuffers over a run is
// every byte the run allocated (for small runs: too little to trigger a scavenge that would
// hide it). Checking allocation is stronger than checking retained heap: nothing allocated,
// nothing retained.
//
// Each scenario gets its own test file: V8 optimizes with the type feedback it has seen, and a
// second configuration in the same process (a new code path) can leave a function compiled
// with generic, allocating accesses. A training run has one configuration.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { Tensor } from '../../src/tensor/tensor.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export const STEPS = 1000;
/** Steps before measuring: state allocation, then V8's tier-up to optimized code. */
export const WARMUP_STEPS = 10_000;

/**
 * Bytes allocated by run(): the least of up to ten tries, stopping once under `enough`. V8
 * compiles on a background thread, and on a busy machine the optimized code can arrive late;
 * the steady state is what we check.
 */
export function allocatedBytes(run: () => void, enough = 0): number {
  const used = (): number =>
    getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size +
    process.memoryUsage().arrayBuffers;
  let least = Infinity;
  for (let attempt = 0; attempt < 10 && least >= enough; attempt++) {
    gc();
    const before = used();
    run();
    least = Math.min(least, used() - before);
  }
  return least;
}

/** 0.5 * |W x + b - y|^2 (W [16, 32]) on a fixed sample; gradients go into preallocated grads. */
export function makeProblem() {
  const weight = Tensor.randn([16, 32]).requireGrad();
  const bias = Tensor.zeros([16]).requireGrad();
  weight.grad = Tensor.zeros(weight.shape);
  bias.grad = Tensor.zeros(bias.shape);
  const x = Tensor.randn([32]).data;
  const y = Tensor.randn([16]).data;
  const loss = new Float64Array(1);
  const computeGradients = (): void => {
    const w = weight.data;
    const gw = weight.grad!.data;
    const gb = bias.grad!.data;
    let sum = 0;
    for (let r = 0; r < 16; r++) {
      let out = bias.data[r] - y[r];
      for (let c = 0; c < 32; c++) out += w[r * 32 + c] * x[c];
      sum += 0.5 * out * out;
      gb[r] = out;
      for (let c = 0; c < 32; c++) gw[r * 32 + c] = out * x[c];
    }
    loss[0] = sum;
  };
  return { params: [weight, bias], computeGradients, loss };
}
