import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Tensor, nn } from '../../src/index.js';

// Expected values were computed once with PyTorch 2 on the CPU (float32):
//   bn = torch.nn.BatchNorm2d(3); weight [1.5, -0.5, 2.0], bias [0.1, 0.2, -0.3]
//   y1 = bn(batch(0)); (y1 * coef).sum().backward(), coef = arange(24).reshape(2, 3, 2, 2) / 10
//   bn(batch(5)); bn.eval(); y3 = bn(batch(11))
// where batch(k) = tensor([sin((i + k) * 0.7) * (1 + i % 3) for i in range(24)]).reshape(2, 3, 2, 2).

function batch(offset: number): Tensor {
  const values = Array.from({ length: 24 }, (_, i) => Math.sin((i + offset) * 0.7) * (1 + (i % 3)));
  return Tensor.from(values, [2, 3, 2, 2]);
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length, 'lengths differ');
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance * (1 + Math.abs(expected[i])),
      `index ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

function makeBatchNorm(): nn.BatchNorm2d {
  const bn = new nn.BatchNorm2d(3);
  bn.loadStateDict(
    {
      weight: Tensor.from([1.5, -0.5, 2.0]),
      bias: Tensor.from([0.1, 0.2, -0.3]),
    },
    { strict: false },
  );
  return bn;
}

describe('BatchNorm2d (against PyTorch)', () => {
  test('training: batch statistics, gradients, running statistics; eval: running statistics', () => {
    const bn = makeBatchNorm();
    const x1 = batch(0).requireGrad();
    const y1 = bn.forward(x1);
    assertClose(
      y1.data.subarray(0, 6),
      [
        -0.619776725769043, 0.9855105876922607, 3.0635976791381836, 0.45571303367614746, -0.38092923164367676,
        0.34551024436950684,
      ],
    );
    const coef = Tensor.arange(24).reshape([2, 3, 2, 2]).div(10);
    y1.mul(coef).sum().backward();
    assertClose(bn.weight!.grad!.data, [-2.899461269378662, 0.5653031468391418, 0.42262622714042664]);
    assertClose(bn.bias!.grad!.data, [6.0, 9.200000762939453, 12.40000057220459]);
    assertClose(
      x1.grad!.data.subarray(0, 6),
      [
        -1.1511224508285522, -0.5432726144790649, 0.2069094032049179, -0.4535796046257019, 0.35096174478530884,
        0.26548221707344055,
      ],
      1e-4,
    );

    bn.forward(batch(5));
    assertClose(bn.runningMean!.data, [0.01169196143746376, 0.0006577968597412109, -0.00474885106086731], 1e-4);
    assertClose(bn.runningVar!.data, [1.192663311958313, 1.118247389793396, 1.4000447988510132]);
    assert.equal(bn.numBatchesTracked!.item(), 2);

    bn.eval();
    const y3 = bn.forward(batch(11));
    assertClose(
      y3.data.subarray(0, 6),
      [
        1.4411958456039429, 2.4315340518951416, 1.3987914323806763, -0.41942018270492554, 1.0321928262710571,
        1.5892460346221924,
      ],
    );
    // Eval mode leaves the running statistics alone.
    assert.equal(bn.numBatchesTracked!.item(), 2);
    assertClose(bn.runningVar!.data, [1.192663311958313, 1.118247389793396, 1.4000447988510132]);
  });

  test('momentum null keeps a cumulative average', () => {
    const bn = new nn.BatchNorm2d(3, { momentum: null });
    bn.forward(batch(0));
    bn.forward(batch(5));
    assertClose(bn.runningMean!.data, [0.0873451679944992, -0.03207886219024658, 0.011750012636184692], 1e-4);
    assertClose(bn.runningVar!.data, [1.996142029762268, 1.6215393543243408, 3.102355480194092]);
  });

  test('without running statistics: batch statistics in eval too, and an empty state dict', () => {
    const bn = new nn.BatchNorm2d(3, { trackRunningStats: false, affine: false }).eval();
    assertClose(
      bn.forward(batch(11)).data.subarray(0, 6),
      [
        0.8981809020042419, 1.400886058807373, 0.8766559958457947, -0.04628555104136467, -1.0764918327331543,
        -1.8203320503234863,
      ],
    );
    assert.equal(bn.stateDict().size, 0);
  });

  test('state dict keys match PyTorch and input is checked', () => {
    assert.deepEqual(
      [...new nn.BatchNorm2d(3).stateDict().keys()],
      ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'],
    );
    assert.throws(() => new nn.BatchNorm2d(3).forward(Tensor.zeros([2, 3, 4])), /expected input \[N, 3, H, W\]/);
    assert.throws(() => new nn.BatchNorm2d(3).forward(Tensor.zeros([1, 3, 1, 1])), /more than one value per channel/);
  });
});
