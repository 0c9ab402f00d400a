import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { clipGradNorm } from '../../src/optim/index.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, makeParams, setGradients } from './quadratic.js';

// torch.nn.utils.clip_grad_norm_ on the gradients at the start of the quadratic in
// quadratic.ts, printed by `/usr/bin/python3 test/optim/torch_reference.py` (torch 1.13, float32).
const TORCH = [
  {
    maxNorm: 1.0,
    normType: 2,
    total: 7.0889434814453125,
    grads: [
      [
        -0.07053235918283463, -0.8463883399963379, 0.21159708499908447, 0.42319416999816895, -0.05289927124977112,
        -0.042319416999816895,
      ],
      [0.08463883399963379, -0.16927766799926758, 0.1199050173163414],
    ],
  },
  {
    maxNorm: 0.5,
    normType: 1,
    total: 14.325000762939453,
    grads: [
      [
        -0.017452005296945572, -0.20942406356334686, 0.052356015890836716, 0.10471203178167343, -0.013089003972709179,
        -0.010471203364431858,
      ],
      [0.020942406728863716, -0.04188481345772743, 0.029668409377336502],
    ],
  },
  {
    maxNorm: 0.7,
    normType: Infinity,
    total: 6.0,
    grads: [
      [
        -0.058333322405815125, -0.6999998688697815, 0.17499996721744537, 0.34999993443489075, -0.04374999180436134,
        -0.034999996423721313,
      ],
      [0.06999999284744263, -0.13999998569488525, 0.09916665405035019],
    ],
  },
  {
    maxNorm: 1.0,
    normType: 3,
    total: 6.292356014251709,
    grads: [
      [
        -0.0794614776968956, -0.9535377025604248, 0.2383844256401062, 0.4767688512802124, -0.05959610641002655,
        -0.04767688736319542,
      ],
      [0.09535377472639084, -0.19070754945278168, 0.13508450984954834],
    ],
  },
  {
    maxNorm: 100.0,
    normType: 2,
    total: 7.0889434814453125,
    grads: [
      [-0.5, -6.0, 1.5, 3.0, -0.375, -0.30000001192092896],
      [0.6000000238418579, -1.2000000476837158, 0.8500000238418579],
    ],
  },
];

describe('clipGradNorm', () => {
  for (const { maxNorm, normType, total, grads } of TORCH) {
    test(`matches torch: maxNorm ${maxNorm}, norm ${normType}`, () => {
      const [p1, p2] = makeParams();
      setGradients(p1, p2);
      const norm = clipGradNorm([p1, p2], maxNorm, normType);
      assertClose([norm], [total], 1e-6, 'total norm');
      assertClose(p1.grad!.data, grads[0], 1e-6, 'p1.grad');
      assertClose(p2.grad!.data, grads[1], 1e-6, 'p2.grad');
    });
  }

  test('a buffer shared by two grads is scaled once', () => {
    // Autograd gives both inputs of an add the same gradient tensor.
    const a = Tensor.zeros([2]).requireGrad();
    const b = Tensor.zeros([2]).requireGrad();
    a.grad = Tensor.from([3, 4], [2]);
    b.grad = a.grad.detach();
    const norm = clipGradNorm([a, b], 1);
    assertClose([norm], [Math.sqrt(50)], 1e-7, 'norm');
    const scale = Math.fround(1 / (Math.sqrt(50) + 1e-6));
    assert.deepEqual(Array.from(a.grad.data), [Math.fround(3 * scale), Math.fround(4 * scale)]);
  });

  test('parameters without grad are ignored; none at all gives 0', () => {
    const [p1, p2] = makeParams();
    assert.equal(clipGradNorm([p1, p2], 1), 0);
    p1.grad = Tensor.from([3, 0, 0, 0, 0, 4], [2, 3]);
    assertClose([clipGradNorm([p1, p2], 10)], [5], 1e-12, 'norm');
  });

  test('non-finite norms: NaN grads by default, an error when asked', () => {
    const [p1] = makeParams();
    p1.grad = Tensor.from([1, NaN, 0, 0, 0, 0], [2, 3]);
    assert.throws(
      () => clipGradNorm([p1], 1, 2, { errorIfNonfinite: true }),
      /clipGradNorm: the total 2-norm of the gradients of 1 parameters is NaN/,
    );
    assert.ok(Number.isNaN(clipGradNorm([p1], 1)));
    assert.ok(p1.grad.data.every(Number.isNaN));
    assert.throws(() => clipGradNorm([p1], -1), /maxNorm must be a number >= 0/);
  });
});
