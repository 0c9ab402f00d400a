import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { F, Generator, Tensor, nn } from '../../src/index.js';

/** Plain SGD written out: p <- p - lr * grad, then clear the gradients. */
function sgdStep(model: nn.Module, lr: number): void {
  for (const p of model.parameters()) {
    if (p.grad === null) continue;
    for (let i = 0; i < p.size; i++) p.data[i] -= lr * p.grad.data[i];
  }
  model.zeroGrad();
}

function trainLosses(
  model: nn.Module & { forward(x: Tensor): Tensor },
  x: Tensor,
  target: Tensor,
  steps: number,
  lr: number,
): number[] {
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = F.mseLoss(model.forward(x), target);
    losses.push(loss.item());
    loss.backward();
    sgdStep(model, lr);
  }
  return losses;
}

describe('training by hand with SGD', () => {
  test('a tiny MLP lowers its loss', () => {
    const g = new Generator(20);
    const model = new nn.Sequential(
      new nn.Linear(2, 16, { generator: g }),
      new nn.SiLU(),
      new nn.Linear(16, 1, { generator: g }),
    );
    const x = Tensor.rand([32, 2], g, -1, 1);
    const target = Tensor.from(
      Array.from({ length: 32 }, (_, i) => Math.sin(2 * x.data[2 * i]) + x.data[2 * i + 1] ** 2),
      [32, 1],
    );
    const losses = trainLosses(model, x, target, 15, 0.2);
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[losses.length - 1]}`);
  });

  test('a tiny conv net with GroupNorm and BatchNorm lowers its loss', () => {
    const g = new Generator(21);
    const model = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1, generator: g }),
      new nn.GroupNorm(2, 4),
      new nn.SiLU(),
      new nn.Conv2d(4, 4, 3, { padding: 1, generator: g }),
      new nn.BatchNorm2d(4),
      new nn.LeakyReLU(0.2),
      new nn.Conv2d(4, 1, 1, { generator: g }),
    );
    const x = Tensor.randn([4, 1, 6, 6], g);
    // Target: a 3x3 box blur of the input, which two 3x3 convs can represent.
    const target = F.avgPool2d(F.pad(x, [1, 1, 1, 1]), 3, 1);
    const losses = trainLosses(model, x, target, 10, 0.1);
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[losses.length - 1]}`);
  });
});
