import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { F, Generator, Tensor, nn } from '../../src/index.js';

function stats(t: Tensor): { mean: number; variance: number; maxAbs: number } {
  let sum = 0;
  let sumSq = 0;
  let maxAbs = 0;
  for (const v of t.data) {
    sum += v;
    sumSq += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const mean = sum / t.size;
  return { mean, variance: sumSq / t.size - mean * mean, maxAbs };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length, 'lengths differ');
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance * (1 + Math.abs(expected[i])),
      `index ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** Checks values look like U(-bound, bound): inside the bound, reaching near it, variance bound^2 / 3. */
function assertUniform(t: Tensor, bound: number): void {
  const s = stats(t);
  assert.ok(s.maxAbs <= bound && s.maxAbs > 0.95 * bound, `max |value| ${s.maxAbs} for bound ${bound}`);
  assert.ok(Math.abs(s.variance / ((bound * bound) / 3) - 1) < 0.1, `variance ${s.variance} for bound ${bound}`);
}

describe('default initialisation (as PyTorch)', () => {
  test('Linear: weight and bias U(-1/sqrt(in), 1/sqrt(in)); same seed, same weights', () => {
    const layer = new nn.Linear(64, 256, { generator: new Generator(1) });
    assertUniform(layer.weight, 1 / 8);
    assert.ok(stats(layer.bias!).maxAbs <= 1 / 8);
    const again = new nn.Linear(64, 256, { generator: new Generator(1) });
    assert.deepEqual(again.weight.data, layer.weight.data);
    assert.equal(new nn.Linear(4, 2, { bias: false }).bias, null);
  });

  test('Conv2d: fanIn counts in / groups * kh * kw', () => {
    const conv = new nn.Conv2d(8, 256, 3, { groups: 2, generator: new Generator(2) });
    assert.deepEqual(conv.weight.shape, [256, 4, 3, 3]);
    assertUniform(conv.weight, 1 / 6);
    assert.ok(stats(conv.bias!).maxAbs <= 1 / 6);
    assert.throws(() => new nn.Conv2d(6, 4, 3, { groups: 4 }), /divisible by groups 4/);
  });

  test('Embedding N(0, 1); norms weight 1 and bias 0', () => {
    const s = stats(new nn.Embedding(128, 128, { generator: new Generator(3) }).weight);
    assert.ok(Math.abs(s.mean) < 0.02 && Math.abs(s.variance - 1) < 0.03, `mean ${s.mean}, variance ${s.variance}`);
    for (const norm of [new nn.GroupNorm(2, 4), new nn.LayerNorm(4), new nn.BatchNorm2d(4)]) {
      assert.deepEqual(Array.from(norm.weight!.data), [1, 1, 1, 1]);
      assert.deepEqual(Array.from(norm.bias!.data), [0, 0, 0, 0]);
    }
  });
});

describe('init', () => {
  test('gains and fans', () => {
    assert.equal(nn.init.calculateGain('relu'), Math.SQRT2);
    assert.equal(nn.init.calculateGain('tanh'), 5 / 3);
    assert.equal(nn.init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(1 / 3));
    assert.deepEqual(nn.init.fanInAndFanOut(Tensor.zeros([16, 4, 3, 3])), [36, 144]);
    assert.throws(() => nn.init.fanInAndFanOut(Tensor.zeros([3])), /rank >= 2/);
  });

  test('fills in place and returns the tensor', () => {
    const t = Tensor.ones([64, 100]);
    assert.equal(nn.init.zeros_(t), t);
    assert.deepEqual(stats(t), { mean: 0, variance: 0, maxAbs: 0 });
    nn.init.kaimingNormal_(t, { nonlinearity: 'relu', generator: new Generator(4) });
    assert.ok(Math.abs(stats(t).variance / (2 / 100) - 1) < 0.05);
    nn.init.xavierUniform_(t, 1, new Generator(5));
    assertUniform(t, Math.sqrt(6 / 164));
    nn.init.normal_(t, 1, 0.02, new Generator(6));
    assert.ok(Math.abs(stats(t).mean - 1) < 0.001);
    nn.init.uniform_(t, 2, 3, new Generator(7));
    assert.ok(t.data.every((v) => v >= 2 && v < 3));
  });
});

describe('layers forward', () => {
  const g = new Generator(10);

  test('Linear matches F.linear and accepts leading batch axes', () => {
    const layer = new nn.Linear(3, 2, { generator: g });
    const x = Tensor.randn([2, 4, 3], g);
    const y = layer.forward(x);
    assert.deepEqual(y.shape, [2, 4, 2]);
    assert.deepEqual(y.data, F.linear(x, layer.weight, layer.bias).data);
  });

  test('Conv2d: stride, asymmetric padding, dilation and groups reach the op', () => {
    const x = Tensor.randn([1, 4, 8, 8], g);
    // The CompVis Downsample: pad right and bottom by 1, then a 3x3 stride-2 conv.
    const down = new nn.Conv2d(4, 4, 3, { stride: 2, padding: [0, 1, 0, 1], generator: g });
    const y = down.forward(x);
    assert.deepEqual(y.shape, [1, 4, 4, 4]);
    const padded = F.pad(x, [0, 1, 0, 1]);
    assertClose(y.data, F.conv2d(padded, down.weight, down.bias, { stride: 2 }).data);
    const dilated = new nn.Conv2d(4, 6, 3, { padding: 2, dilation: 2, groups: 2, bias: false, generator: g });
    assert.deepEqual(dilated.forward(x).shape, [1, 6, 8, 8]);
    assert.deepEqual([...dilated.stateDict().keys()], ['weight']);
  });

  test('GroupNorm and LayerNorm normalise with their defaults and check their input', () => {
    const x = Tensor.randn([2, 4, 3, 3], g).mul(3).add(1);
    const y = new nn.GroupNorm(2, 4, { eps: 1e-6 }).forward(x);
    const group = y.reshape([4, 18]);
    assertClose(Array.from(group.mean(1).data), [0, 0, 0, 0], 1e-5);
    assertClose(Array.from(group.var(1, false, 0).data), [1, 1, 1, 1], 1e-4);
    assert.throws(() => new nn.GroupNorm(2, 4).forward(Tensor.zeros([1, 6, 2, 2])), /expected input \[N, 4, \.\.\.\]/);
    assert.throws(() => new nn.GroupNorm(3, 4), /not divisible/);

    const ln = new nn.LayerNorm(5);
    const rows = ln.forward(Tensor.randn([3, 5], g).mul(2));
    assertClose(Array.from(rows.mean(1).data), [0, 0, 0], 1e-5);
    assert.equal(new nn.LayerNorm([2, 5], { elementwiseAffine: false }).numParameters(), 0);
    assert.deepEqual([...new nn.LayerNorm(4, { bias: false }).stateDict().keys()], ['weight']);
  });

  test('Embedding maps index shapes to [..., dim]', () => {
    const emb = new nn.Embedding(5, 3, { generator: g });
    const y = emb.forward(
      Tensor.from([
        [1, 4],
        [0, 1],
      ]),
    );
    assert.deepEqual(y.shape, [2, 2, 3]);
    assert.deepEqual(y.data.subarray(0, 3), emb.weight.data.subarray(3, 6));
    assert.throws(() => emb.forward([5]), /out of range/);
  });

  test('Dropout: seeded masks in training, identity in eval', () => {
    const x = Tensor.ones([4000]);
    const drop = new nn.Dropout(0.25, { generator: new Generator(11) });
    const y = drop.forward(x);
    const zeros = y.data.filter((v) => v === 0).length;
    assert.ok(Math.abs(zeros / 4000 - 0.25) < 0.03, `${zeros} zeros`);
    assert.ok(y.data.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
    const same = new nn.Dropout(0.25, { generator: new Generator(11) }).forward(x);
    assert.deepEqual(same.data, y.data);
    assert.equal(drop.eval().forward(x), x);
    assert.throws(() => new nn.Dropout(1), /p must be in \[0, 1\)/);
  });

  test('activation modules', () => {
    const x = Tensor.from([-2, -0.5, 0, 1, 3]);
    const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
    assertClose(
      Array.from(new nn.SiLU().forward(x).data),
      [-2, -0.5, 0, 1, 3].map((v) => v * sigmoid(v)),
    );
    // GELU(v) = v * Phi(v); Phi from torch: torch.special.ndtr(tensor([-2, -0.5, 0, 1, 3])).
    const phi = [0.0227501319, 0.3085375387, 0.5, 0.8413447461, 0.998650102];
    assertClose(
      Array.from(new nn.GELU().forward(x).data),
      [-2, -0.5, 0, 1, 3].map((v, i) => v * phi[i]),
    );
    assert.deepEqual(Array.from(new nn.ReLU().forward(x).data), [0, 0, 0, 1, 3]);
    assertClose(Array.from(new nn.LeakyReLU(0.2).forward(x).data), [-0.4, -0.1, 0, 1, 3]);
    assert.equal(new nn.Identity().forward(x), x);
  });

  test('ModuleList indexes, iterates and names its items', () => {
    const list = new nn.ModuleList([new nn.ReLU(), new nn.Linear(2, 2)]);
    list.append(new nn.SiLU());
    assert.equal(list.length, 3);
    assert.ok(list.get(1) instanceof nn.Linear);
    assert.ok(list.get(-1) instanceof nn.SiLU);
    assert.deepEqual(
      [...list].map((m) => m.constructor.name),
      ['ReLU', 'Linear', 'SiLU'],
    );
    assert.deepEqual([...list.stateDict().keys()], ['1.weight', '1.bias']);
    assert.throws(() => list.get(5), /out of range/);
  });
});
