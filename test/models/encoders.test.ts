// The conditioning stages: ClassEmbedder (labels -> a context of length 1, the null class for
// guidance) and SpatialRescaler (resizing and channel mapping), their keys and shapes.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { Generator, Tensor, grad, noGrad } from '../../src/index.js';
import { ClassEmbedder, SpatialRescaler, interpolate } from '../../src/models/encoders/index.js';

describe('ClassEmbedder', () => {
  test('labels [N] -> context [N, 1, embed_dim], key embedding.weight', () => {
    const embedder = new ClassEmbedder({ embed_dim: 16, n_classes: 11 }, new Generator(0));
    assert.deepEqual(
      [...embedder.stateDict()].map(([key, t]) => [key, t.shape]),
      [['embedding.weight', [11, 16]]],
    );
    const context = embedder.forward(Tensor.from([3, 0, 10]));
    assert.deepEqual(context.shape, [3, 1, 16]);
    const weight = embedder.embedding.weight.data;
    assert.deepEqual(Array.from(context.data.slice(0, 16)), Array.from(weight.slice(3 * 16, 4 * 16)));
    assert.deepEqual(Array.from(context.data.slice(32, 48)), Array.from(weight.slice(10 * 16, 11 * 16)));
  });

  test('the null class is n_classes - 1', () => {
    const embedder = new ClassEmbedder({ embed_dim: 4, n_classes: 11 });
    assert.equal(embedder.nullClass, 10);
    assert.deepEqual(Array.from(embedder.unconditionalLabels(3).data), [10, 10, 10]);
    assert.deepEqual(embedder.unconditionalLabels(0).shape, [0]);
    assert.equal(new ClassEmbedder({ embed_dim: 4 }).nullClass, 999);
  });

  test('dropLabels replaces labels by the null class with the given probability', () => {
    const embedder = new ClassEmbedder({ embed_dim: 4, n_classes: 11, ucg_rate: 0.1 });
    const labels = Tensor.from(Array.from({ length: 2000 }, (_, i) => i % 10));
    assert.deepEqual(Array.from(embedder.dropLabels(labels, 0).data), Array.from(labels.data));
    assert.ok(embedder.dropLabels(labels, 1).data.every((v) => v === 10));
    const dropped = embedder.dropLabels(labels, undefined, new Generator(1)).data.filter((v) => v === 10).length;
    assert.ok(dropped > 140 && dropped < 260, `${dropped} of 2000 dropped at ucg_rate 0.1`);
  });

  test('the embedding trains through the context', () => {
    const embedder = new ClassEmbedder({ embed_dim: 4, n_classes: 3 });
    const [g] = grad(embedder.forward(Tensor.from([2, 2])).sum(), [embedder.embedding.weight]);
    assert.deepEqual(Array.from(g.data), [0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2]);
  });

  test('rejects bad labels and settings', () => {
    const embedder = new ClassEmbedder({ embed_dim: 4, n_classes: 3 });
    assert.throws(() => embedder.forward(Tensor.from([0, 3])), /label 3 at 1 is not an integer in \[0, 3\)/);
    assert.throws(() => embedder.forward(Tensor.from([0.5])), /label 0.5/);
    assert.throws(() => embedder.forward(Tensor.zeros([2, 1])), /expected labels \[N\], got \[2, 1\]/);
    assert.throws(() => new ClassEmbedder({ embed_dim: 0 }), /embed_dim/);
    assert.throws(() => new ClassEmbedder({ embed_dim: 4, ucg_rate: 2 }), /ucg_rate/);
  });
});

describe('SpatialRescaler', () => {
  test('CompVis defaults: one bilinear halving, no parameters', () => {
    const rescaler = new SpatialRescaler();
    assert.equal(rescaler.stateDict().size, 0);
    const x = Tensor.rand([1, 3, 8, 6]);
    const y = noGrad(() => rescaler.forward(x));
    assert.deepEqual(y.shape, [1, 3, 4, 3]);
    // Bilinear halving with half-pixel centres is the mean of each 2x2 block.
    const block = (x.data[0] + x.data[1] + x.data[6] + x.data[7]) / 4;
    assert.ok(Math.abs(y.data[0] - block) < 1e-6);
  });

  test('channel_mapper keys and shapes; n_stages resizes repeatedly, each stage flooring', () => {
    const rescaler = new SpatialRescaler(
      { n_stages: 2, method: 'nearest', in_channels: 182, out_channels: 3, bias: true },
      new Generator(0),
    );
    assert.deepEqual(
      [...rescaler.stateDict()].map(([key, t]) => [key, t.shape]),
      [
        ['channel_mapper.weight', [3, 182, 1, 1]],
        ['channel_mapper.bias', [3]],
      ],
    );
    assert.deepEqual(noGrad(() => rescaler.forward(Tensor.rand([2, 182, 17, 32]))).shape, [2, 3, 4, 8]);
    assert.equal(rescaler.outChannels, 3);
    const noBias = new SpatialRescaler({ in_channels: 4, out_channels: 2 });
    assert.deepEqual([...noBias.stateDict().keys()], ['channel_mapper.weight']);
    assert.deepEqual(
      noGrad(() => new SpatialRescaler({ n_stages: 0 }).forward(Tensor.rand([1, 3, 5, 5]))).shape,
      [1, 3, 5, 5],
    );
  });

  test('gradients flow through the resizing to the input', () => {
    const x = Tensor.rand([1, 1, 4, 4]).requireGrad();
    const [g] = grad(interpolate(x, 0.5, 'bilinear').sum(), [x]);
    assert.ok(g.data.every((v) => Math.abs(v - 0.25) < 1e-7));
  });

  test('rejects methods that are not 2-D and inputs of the wrong width', () => {
    assert.throws(() => new SpatialRescaler({ method: 'trilinear' }), /method "trilinear" is not one of nearest/);
    assert.throws(() => new SpatialRescaler({ multiplier: 0 }), /multiplier must be positive/);
    assert.throws(
      () => new SpatialRescaler().forward(Tensor.rand([1, 4, 8, 8])),
      /expected \[N, 3, H, W\], got \[1, 4, 8, 8\]/,
    );
    assert.throws(() => new SpatialRescaler({ n_stages: 4 }).forward(Tensor.rand([1, 3, 8, 8])), /leaves no pixels/);
  });
});
