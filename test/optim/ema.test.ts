import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { EMA } from '../../src/optim/index.js';
import { Tensor } from '../../src/tensor/tensor.js';

describe('EMA', () => {
  test('warm-up decay is min(decay, (1 + n) / (10 + n)) with n counted from 1, as LitEma', () => {
    const p = Tensor.from([0], [1]);
    const ema = new EMA([p], { decay: 0.99 });
    const expected = [2 / 11, 3 / 12, 4 / 13];
    for (const d of expected) {
      assert.equal(ema.nextDecay(), d);
      ema.update();
    }
    // (1 + n) / (10 + n) passes 0.99 at n = 891.
    ema.numUpdates = 889;
    assert.equal(ema.nextDecay(), 891 / 900);
    ema.numUpdates = 890;
    assert.equal(ema.nextDecay(), 0.99);
    assert.equal(new EMA([p], { decay: 0.5, useNumUpdates: false }).nextDecay(), 0.5);
  });

  test('update moves the average toward the parameters', () => {
    const p = Tensor.from([1, -2], [2]);
    const ema = new EMA([['w', p]], { decay: 0.9, useNumUpdates: false });
    p.data.set([3, 0]);
    ema.update();
    // shadow - (1 - 0.9) * (shadow - p)
    const expected = [1 - 0.1 * (1 - 3), -2 - 0.1 * (-2 - 0)].map(Math.fround);
    const probe = Tensor.zeros([2]);
    ema.copyTo([probe]);
    assert.deepEqual(Array.from(probe.data), expected);
    assert.equal(ema.numUpdates, 1);
  });

  test('store / copyTo / restore swap the averaged weights in and out', () => {
    const p = Tensor.from([1, 2], [2]);
    const ema = new EMA([p], { decay: 0.5, useNumUpdates: false });
    p.data.set([3, 4]);
    ema.update(); // average: [2, 3]
    const result = ema.withAveragedWeights(() => Array.from(p.data));
    assert.deepEqual(result, [2, 3]);
    assert.deepEqual(Array.from(p.data), [3, 4]);
    ema.store();
    ema.copyTo();
    assert.deepEqual(Array.from(p.data), [2, 3]);
    ema.restore();
    assert.deepEqual(Array.from(p.data), [3, 4]);
    assert.throws(() => new EMA([p]).restore(), /EMA.restore: nothing stored/);
    assert.throws(() => ema.copyTo([Tensor.zeros([3])]), /EMA.copyTo: parameter 0 has shape \[3\], expected \[2\]/);
  });

  test('state round trip and validation', () => {
    const p = Tensor.from([1, 2], [2]);
    const ema = new EMA([['w', p]]);
    p.data.set([5, 6]);
    ema.update();
    const saved = ema.stateDict();
    const other = new EMA([['w', Tensor.zeros([2])]]);
    other.loadStateDict(saved);
    assert.deepEqual(other.stateDict(), saved);
    assert.throws(
      () => new EMA([['v', Tensor.zeros([2])]]).loadStateDict(saved),
      /parameter 0 is "v" here but "w" in the state/,
    );
    assert.throws(
      () => new EMA([['w', Tensor.zeros([1, 2])]]).loadStateDict(saved),
      /parameter 0 \("w"\) has shape \[1, 2\] here, \[2\] in the state/,
    );
  });
});
