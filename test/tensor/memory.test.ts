// Recycling of gradient buffers (src/tensor/memory.ts): which buffers a backward pass may
// reuse, and that values handed to the caller are never overwritten by later ops.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { grad } from '../../src/tensor/autograd.js';
import {
  allocate,
  allocateZeroed,
  beginBackwardPass,
  endBackwardPass,
  ownedByPass,
  release,
} from '../../src/tensor/memory.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

// Pooled sizes start at 1024 floats; these tests use 4096-element tensors.
const N = 4096;
const gen = new Generator(5);
const randomLeaf = () => Tensor.randn([N], gen).requireGrad();

/** Runs a few backward passes whose dead gradients refill the pool with other values. */
function churn(): void {
  for (let i = 0; i < 3; i++) {
    const a = randomLeaf();
    a.mul(a).exp().mul(3).add(a).sum().backward();
  }
}

test('a buffer allocated and wrapped once in a pass is owned by it; released, it is handed out again', () => {
  const enclosing = beginBackwardPass();
  try {
    const data = allocate(N);
    const t = new Tensor(data, [N]);
    assert.equal(ownedByPass(t.data), true);
    release(t.data);
    assert.equal(ownedByPass(t.data), false, 'a released buffer is no longer owned (no double release)');
    assert.equal(allocate(N), data);
  } finally {
    endBackwardPass(enclosing);
  }
});

test('shared, outside-the-pass and small buffers are never owned', () => {
  const before = allocate(N); // outside any pass
  const enclosing = beginBackwardPass();
  try {
    assert.equal(ownedByPass(before), false);
    const shared = allocate(N);
    const t = new Tensor(shared, [N]);
    t.reshape([64, 64]); // a view: two tensors over one buffer
    assert.equal(ownedByPass(shared), false);
    const small = new Tensor(allocate(16), [16]);
    assert.equal(ownedByPass(small.data), false);
  } finally {
    endBackwardPass(enclosing);
  }
  assert.equal(ownedByPass(allocate(N)), false, 'nothing is owned outside a pass');
});

test('allocateZeroed clears a recycled buffer', () => {
  const enclosing = beginBackwardPass();
  try {
    const data = allocate(N).fill(7);
    new Tensor(data, [N]);
    release(data);
    assert.ok(allocateZeroed(N).every((v) => v === 0));
  } finally {
    endBackwardPass(enclosing);
  }
});

test('leaf gradients are never recycled by later passes', () => {
  const x = randomLeaf();
  x.mul(2).exp().sum().backward();
  const expected = Array.from(x.grad!.data);
  churn();
  assert.deepEqual(Array.from(x.grad!.data), expected);
});

test('grad() results for intermediate tensors are never recycled', () => {
  const x = randomLeaf();
  const h = x.mul(3);
  const y = h.exp().sum();
  const [gh, gx] = grad(y, [h, x]);
  const expectedH = Array.from(gh.data);
  const expectedX = Array.from(gx.data);
  churn();
  assert.deepEqual(Array.from(gh.data), expectedH);
  assert.deepEqual(Array.from(gx.data), expectedX);
  for (let i = 0; i < N; i += 997)
    assert.ok(Math.abs(expectedX[i] - 3 * expectedH[i]) <= 1e-5 * Math.abs(expectedH[i]));
});

test('gradients summed in place match the sum of the paths', () => {
  // x feeds four consumers; one rule (add) returns the same gradient tensor for both its inputs.
  const x = randomLeaf();
  const y = x.add(x).mul(x.exp()).add(x.square());
  y.sum().backward();
  const ex = x.data.map((v) => Math.exp(v));
  for (let i = 0; i < N; i += 331) {
    const v = x.data[i];
    const expected = 2 * ex[i] + 2 * v * ex[i] + 2 * v; // d/dx (2x e^x + x^2)
    assert.ok(Math.abs(x.grad!.data[i] - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `element ${i}`);
  }
});

test('retained graphs give the same gradients on every pass', () => {
  const x = randomLeaf();
  const loss = x.mul(x).exp().mul(2).sum();
  loss.backward(undefined, { retainGraph: true });
  const first = Array.from(x.grad!.data);
  x.grad = null;
  churn();
  loss.backward();
  assert.deepEqual(Array.from(x.grad!.data), first);
});

test('chunked pieces (slice gradients summed in place) get the right gradients', () => {
  const x = Tensor.randn([64, 128], gen).requireGrad();
  const [a, b] = x.chunk(2, -1);
  a.mul(b.exp()).sum().backward();
  for (let r = 0; r < 64; r += 7) {
    for (let c = 0; c < 64; c += 5) {
      const av = x.data[r * 128 + c];
      const bv = x.data[r * 128 + 64 + c];
      assert.ok(Math.abs(x.grad!.data[r * 128 + c] - Math.exp(bv)) <= 1e-5 * Math.exp(bv));
      assert.ok(
        Math.abs(x.grad!.data[r * 128 + 64 + c] - av * Math.exp(bv)) <= 1e-5 * Math.max(1, Math.abs(av * Math.exp(bv))),
      );
    }
  }
});

test('releaseActivations: the next forward of the same shapes reuses the graph memory; the loss, views the caller made and gradients stay', () => {
  const x = randomLeaf();
  const hidden = x.mul(2).exp();
  const kept = hidden.mul(3);
  const keptView = kept.detach(); // the caller's view keeps that buffer out of the pool
  const expectedKept = Array.from(keptView.data);
  const loss = kept.add(hidden).sum();
  const lossValue = loss.item();
  loss.backward(undefined, { releaseActivations: true });
  assert.equal(loss.item(), lossValue);
  assert.deepEqual(Array.from(keptView.data), expectedKept);
  for (let i = 0; i < N; i += 401) {
    const expected = 8 * Math.exp(2 * x.data[i]); // d/dx 4 e^(2x)
    assert.ok(Math.abs(x.grad!.data[i] - expected) <= 1e-5 * expected, `gradient element ${i}`);
  }
  const released = hidden.data;
  const handedOut = [allocate(N), allocate(N), allocate(N)];
  assert.ok(handedOut.includes(released), 'the activation buffer is handed out again');
  assert.ok(!handedOut.includes(kept.data), 'the buffer under the caller view is not');
});

test('releaseActivations with retainGraph is refused', () => {
  const x = randomLeaf();
  assert.throws(
    () => x.exp().sum().backward(undefined, { retainGraph: true, releaseActivations: true }),
    /retainGraph/,
  );
});
