// Autograd semantics: accumulation, noGrad, detach, graph freeing, grad() and its pruning.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { grad, noGrad, record } from '../../src/tensor/autograd.js';
import { Tensor } from '../../src/tensor/tensor.js';

const leaf = (values: number[]) => Tensor.from(values).requireGrad();

test('gradients accumulate across backward calls until reset', () => {
  const w = leaf([1, 2, 3]);
  w.mul(2).sum().backward();
  w.mul(3).sum().backward();
  assert.deepEqual(Array.from(w.grad!.data), [5, 5, 5]);
  w.grad = null;
  w.square().sum().backward();
  assert.deepEqual(Array.from(w.grad!.data), [2, 4, 6]);
});

test('a tensor used twice receives the sum of both paths', () => {
  const x = leaf([3]);
  x.mul(x).add(x).sum().backward(); // d(x^2 + x)/dx = 2x + 1
  assert.equal(x.grad!.item(), 7);
});

test('noGrad and detach record nothing', () => {
  const w = leaf([1, 2]);
  const y = noGrad(() => w.mul(2));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  const d = w.mul(2).detach();
  assert.equal(d.requiresGrad, false);
  assert.throws(() => d.sum().backward(), /does not require grad/);
});

test('backward frees the graph; a second pass needs retainGraph', () => {
  const w = leaf([1, 2]);
  const loss = w.exp().sum();
  loss.backward(undefined, { retainGraph: true });
  loss.backward();
  assert.throws(() => loss.backward(), /already freed/);
  assert.deepEqual(loss.gradFn!.inputs, []);
});

test('a non-scalar output needs an explicit gradient', () => {
  const w = leaf([1, 2]);
  assert.throws(() => w.mul(2).backward(), /not a scalar/);
  w.mul(2).backward(Tensor.from([1, 10]));
  assert.deepEqual(Array.from(w.grad!.data), [2, 20]);
});

test('grad() leaves .grad alone and supports intermediates and unused inputs', () => {
  const w = leaf([1, 2]);
  const h = w.mul(3);
  const loss = h.square().sum();
  const [gw, gh] = grad(loss, [w, h], { retainGraph: true });
  assert.deepEqual(Array.from(gh.data), [6, 12]); // 2h
  assert.deepEqual(Array.from(gw.data), [18, 36]); // 2h * 3
  assert.equal(w.grad, null);
  const unused = leaf([0]);
  assert.throws(() => grad(loss, [unused], { retainGraph: true }), /not used/);
  assert.deepEqual(Array.from(grad(loss, [unused], { allowUnused: true })[0].data), [0]);
});

test('grad() only runs the gradient rules on paths to the requested inputs', () => {
  const early = leaf([1, 2]);
  const late = leaf([3, 4]);
  // A node whose rule must not run when only `late` is asked for.
  const branch = record(early.mul(1), 'forbidden', [early], () => {
    throw new Error('rule of an unrelated branch ran');
  });
  const loss = branch.mul(late).sum();
  const [g] = grad(loss, [late]);
  assert.deepEqual(Array.from(g.data), [1, 2]);
});

test('a 20,000-op chain backpropagates without exhausting the stack', () => {
  const w = leaf([1]);
  let y = w;
  for (let i = 0; i < 20000; i++) y = y.add(1);
  y.sum().backward();
  assert.equal(w.grad!.item(), 1);
});

test('only leaves can be marked as requiring grad', () => {
  const w = leaf([1]);
  assert.throws(() => w.mul(2).requireGrad(), /only leaf tensors/);
});
