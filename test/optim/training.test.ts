// The optimizers with gradients from autograd: a least-squares fit where both the weight and
// the bias receive gradients through backward(), grads cleared with zeroGrad() each step.
// The ops run on the js backend: the optimizers never touch a backend, and this keeps the
// test independent of the native addon's state.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { Adam, AdamW, SGD, clipGradNorm, type BaseHyperParams, type Optimizer } from '../../src/optim/index.js';
import { useBackend } from '../../src/tensor/device.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

useBackend('js');

function fit(makeOptimizer: (params: Tensor[]) => Optimizer<BaseHyperParams>): { first: number; last: number } {
  const generator = new Generator(1);
  const x = Tensor.randn([64, 8], generator); // [N, in]
  const trueWeight = Tensor.randn([8, 4], generator); // [in, out]
  const y = x.matmul(trueWeight).add(0.5); // [N, out]
  const weight = Tensor.zeros([8, 4]).requireGrad();
  const bias = Tensor.zeros([4]).requireGrad();
  const optimizer = makeOptimizer([weight, bias]);
  const losses: number[] = [];
  for (let step = 0; step < 200; step++) {
    optimizer.zeroGrad();
    const loss = x.matmul(weight).add(bias).sub(y).square().mean();
    loss.backward();
    clipGradNorm([weight, bias], 10);
    optimizer.step();
    losses.push(loss.item());
  }
  return { first: losses[0], last: losses[losses.length - 1] };
}

for (const [name, make] of Object.entries({
  SGD: (params: Tensor[]) => new SGD(params, { lr: 0.05, momentum: 0.9 }),
  Adam: (params: Tensor[]) => new Adam(params, { lr: 0.05 }),
  AdamW: (params: Tensor[]) => new AdamW(params, { lr: 0.05, weightDecay: 1e-4 }),
})) {
  test(`${name} fits a linear least-squares problem through backward()`, () => {
    const { first, last } = fit(make);
    assert.ok(last < 1e-3 * first, `loss ${first} -> ${last}`);
  });
}
