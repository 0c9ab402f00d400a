// The U-Net's config reading and checks, its layout for known configs, shapes for unusual ones,
// the timestep embedding, and the errors for wrong inputs.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { ConfigError, Generator, Tensor, grad, noGrad } from '../../src/index.js';
import {
  AttentionBlock,
  SpatialTransformer,
  UNET_CONFIG_DEFAULTS,
  UNetModel,
  timestepEmbedding,
  unetConfigFromParams,
  type UNetConfigInput,
} from '../../src/models/unet/index.js';

/** The config the MNIST-latent model uses (3x8x8 latents, class context of length 1). */
const MNIST: UNetConfigInput = {
  in_channels: 3,
  out_channels: 3,
  model_channels: 64,
  channel_mult: [1, 2],
  num_res_blocks: 2,
  attention_resolutions: [1, 2],
  num_head_channels: 32,
  use_spatial_transformer: true,
  transformer_depth: 1,
  context_dim: 64,
};

const SMALL: UNetConfigInput = {
  in_channels: 2,
  out_channels: 2,
  model_channels: 32,
  channel_mult: [1, 2],
  num_res_blocks: 1,
  attention_resolutions: [2],
  num_heads: 2,
};

function randomize(model: UNetModel, generator: Generator): void {
  // Undo the zero-initialisation so that outputs and gradients are not trivially zero.
  for (const p of model.parameters()) p.copyFrom(Tensor.randn(p.shape, generator).mul(0.1));
}

describe('unetConfigFromParams', () => {
  const params = { ...MNIST } as Record<string, unknown>;

  test('fills the CompVis defaults', () => {
    const config = unetConfigFromParams({ ...SMALL }, 'small.yaml');
    assert.equal(config.dropout, UNET_CONFIG_DEFAULTS.dropout);
    assert.equal(config.conv_resample, true);
    assert.equal(config.legacy, true);
    assert.equal(config.num_head_channels, -1);
    assert.equal(config.context_dim, null);
    assert.deepEqual(unetConfigFromParams({ ...SMALL, channel_mult: undefined }, 'x').channel_mult, [1, 2, 4, 8]);
  });

  test('accepts the keys CompVis configs carry that change nothing here', () => {
    const config = unetConfigFromParams({ ...params, image_size: 8, use_checkpoint: true, use_fp16: false }, 'x');
    assert.equal(config.image_size, 8);
  });

  const errors: [string, Record<string, unknown>, RegExp][] = [
    [
      'an unknown key, with a suggestion',
      { ...params, num_res_block: 2 },
      /unknown key "num_res_block".*num_res_blocks/,
    ],
    ['a missing required key', { ...params, model_channels: undefined }, /missing required key "model_channels"/],
    ['a wrong kind', { ...params, channel_mult: '1,2' }, /channel_mult.*expected integer\[\]/],
    ['widths GroupNorm cannot split', { ...params, model_channels: 48 }, /model_channels.*48 is not a multiple of 32/],
    [
      'a spatial transformer without context_dim',
      { ...params, context_dim: null },
      /context_dim.*use_spatial_transformer needs/,
    ],
    [
      'context_dim without spatial transformers',
      { ...params, use_spatial_transformer: false },
      /use_spatial_transformer.*must be true/,
    ],
    ['neither heads setting', { ...SMALL, num_heads: -1 }, /either num_heads or num_head_channels/],
    ['heads that do not divide an AttentionBlock', { ...SMALL, num_heads: 3 }, /num_heads.*3 heads/],
    ['head channels that do not divide', { ...SMALL, num_heads: -1, num_head_channels: 24 }, /num_head_channels/],
    ['a first channel_mult other than 1', { ...params, channel_mult: [2, 4] }, /channel_mult.*must start with 1/],
    ['3-D U-Nets', { ...params, dims: 3 }, /dims.*only 2-D/],
    ['the codebook head', { ...params, n_embed: 16 }, /n_embed.*not supported/],
    ['per-level context dims', { ...params, context_dim: [64, 64] }, /per-level context_dim/],
    ['dropout out of range', { ...params, dropout: 1 }, /dropout.*\[0, 1\)/],
  ];
  for (const [what, given, message] of errors) {
    test(`rejects ${what}, naming the source`, () => {
      assert.throws(
        () => unetConfigFromParams(given, 'configs/ldm.yaml', 'model.params.unet_config.params'),
        (err: unknown) =>
          err instanceof ConfigError &&
          message.test(err.message) &&
          err.message.includes('configs/ldm.yaml') &&
          err.message.includes('model.params.unet_config.params'),
      );
    });
  }

  test('the constructor checks a config given in TypeScript too', () => {
    assert.throws(() => new UNetModel({ ...SMALL, model_channels: 40 }), /UNetModel: config key "model_channels"/);
  });
});

describe('UNetModel layout', () => {
  test('the MNIST-latent config: keys, shapes and heads', () => {
    const model = new UNetModel(MNIST, new Generator(0));
    const shapes = new Map([...model.stateDict()].map(([key, t]) => [key, t.shape]));
    const expected: [string, number[]][] = [
      ['time_embed.0.weight', [256, 64]],
      ['time_embed.2.weight', [256, 256]],
      ['input_blocks.0.0.weight', [64, 3, 3, 3]],
      ['input_blocks.1.0.in_layers.2.weight', [64, 64, 3, 3]],
      ['input_blocks.1.0.emb_layers.1.weight', [64, 256]],
      ['input_blocks.1.0.out_layers.3.weight', [64, 64, 3, 3]],
      ['input_blocks.1.1.proj_in.weight', [64, 64, 1, 1]],
      ['input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight', [64, 64]],
      ['input_blocks.1.1.transformer_blocks.0.ff.net.0.proj.weight', [512, 64]],
      ['input_blocks.1.1.transformer_blocks.0.ff.net.2.weight', [64, 256]],
      ['input_blocks.3.0.op.weight', [64, 64, 3, 3]],
      ['input_blocks.4.0.skip_connection.weight', [128, 64, 1, 1]],
      ['middle_block.1.transformer_blocks.0.norm3.weight', [128]],
      ['output_blocks.0.0.in_layers.0.weight', [256]],
      ['output_blocks.2.0.skip_connection.weight', [128, 192, 1, 1]],
      ['output_blocks.2.2.conv.weight', [128, 128, 3, 3]],
      ['output_blocks.5.0.skip_connection.weight', [64, 128, 1, 1]],
      ['out.0.weight', [64]],
      ['out.2.weight', [3, 64, 3, 3]],
    ];
    for (const [key, shape] of expected) assert.deepEqual(shapes.get(key), shape, key);
    assert.ok(![...shapes.keys()].some((key) => key.includes('label_emb') || key.endsWith('to_q.bias')));
    const transformers = model.modules().filter((m): m is SpatialTransformer => m instanceof SpatialTransformer);
    assert.equal(transformers.length, 4 + 1 + 6);
    const heads = transformers.map((t) => `${t.channels}:${t.transformerBlocks.get(0).attn1.heads}`);
    assert.ok(
      heads.every((h) => h === '64:2' || h === '128:4'),
      heads.join(' '),
    );
  });

  test('the zero-initialised layers make a new model output zeros', () => {
    const model = new UNetModel(MNIST, new Generator(1));
    for (const key of ['out.2.weight', 'input_blocks.1.0.out_layers.3.weight', 'input_blocks.1.1.proj_out.weight']) {
      assert.ok(
        model
          .stateDict()
          .get(key)
          ?.data.every((v) => v === 0),
        key,
      );
    }
    const out = noGrad(() =>
      model.forward(Tensor.randn([2, 3, 8, 8]), Tensor.from([1, 500]), { context: Tensor.randn([2, 1, 64]) }),
    );
    assert.ok(out.data.every((v) => v === 0));
  });

  test('ADM options: label_emb, scale-shift emb_layers, resampling ResBlocks, legacy AttentionBlock heads', () => {
    const model = new UNetModel(
      { ...SMALL, num_classes: 10, use_scale_shift_norm: true, resblock_updown: true, num_heads_upsample: 1 },
      new Generator(2),
    );
    const shapes = new Map([...model.stateDict()].map(([key, t]) => [key, t.shape]));
    assert.deepEqual(shapes.get('label_emb.weight'), [10, 128]);
    assert.deepEqual(shapes.get('input_blocks.1.0.emb_layers.1.weight'), [64, 128]);
    assert.deepEqual(shapes.get('input_blocks.2.0.in_layers.2.weight'), [32, 32, 3, 3]); // the down ResBlock
    assert.deepEqual(shapes.get('output_blocks.1.2.out_layers.3.weight'), [64, 64, 3, 3]); // the up ResBlock
    assert.deepEqual(shapes.get('middle_block.1.qkv.weight'), [192, 64, 1]);
    const attention = model.modules().filter((m): m is AttentionBlock => m instanceof AttentionBlock);
    assert.deepEqual(
      attention.map((a) => a.heads),
      [2, 2, 1, 1], // input, middle (num_heads), then output blocks (num_heads_upsample)
    );
  });
});

describe('UNetModel forward', () => {
  test('shapes for unusual configs: three levels, non-square inputs, odd widths, deeper transformers', () => {
    const generator = new Generator(3);
    const cases: [UNetConfigInput, number[], number][] = [
      [{ ...SMALL, channel_mult: [1, 1, 2], num_res_blocks: 2, out_channels: 5 }, [1, 2, 8, 12], 5],
      [
        { ...MNIST, model_channels: 32, channel_mult: [1, 2, 2], transformer_depth: 2, context_dim: 7 },
        [2, 3, 4, 8],
        3,
      ],
      [{ ...SMALL, num_res_blocks: 3, conv_resample: false, use_new_attention_order: true }, [3, 2, 2, 6], 2],
      [
        { ...SMALL, model_channels: 64, num_heads: 3, legacy: false, use_spatial_transformer: true, context_dim: 5 },
        [1, 2, 4, 4],
        2,
      ],
    ];
    for (const [config, shape, outChannels] of cases) {
      const model = new UNetModel(config, generator);
      randomize(model, generator);
      const n = shape[0];
      const context = config.context_dim ? Tensor.randn([n, 2, config.context_dim], generator) : undefined;
      const out = noGrad(() => model.forward(Tensor.randn(shape, generator), Tensor.full([n], 10), { context }));
      assert.deepEqual(out.shape, [n, outChannels, shape[2], shape[3]], JSON.stringify(config));
      assert.ok(out.data.every(Number.isFinite));
    }
  });

  test('a spatial transformer whose heads do not fill its width projects to heads x head channels', () => {
    // legacy false, num_heads 3 at 64 channels: 3 heads of 21, inner width 63 (as in CompVis).
    const model = new UNetModel({
      ...SMALL,
      model_channels: 64,
      channel_mult: [1],
      attention_resolutions: [1],
      num_heads: 3,
      legacy: false,
      use_spatial_transformer: true,
      context_dim: 5,
    });
    assert.deepEqual(model.stateDict().get('input_blocks.1.1.proj_in.weight')?.shape, [63, 64, 1, 1]);
    assert.deepEqual(model.stateDict().get('middle_block.1.transformer_blocks.0.attn2.to_k.weight')?.shape, [63, 5]);
  });

  test('every parameter gets a gradient', () => {
    const generator = new Generator(4);
    const model = new UNetModel({ ...SMALL, num_classes: 3, use_scale_shift_norm: true }, generator);
    randomize(model, generator);
    const out = model.forward(Tensor.randn([2, 2, 8, 8], generator), Tensor.from([5, 900]), { y: Tensor.from([0, 2]) });
    const parameters = model.parameters();
    const grads = grad(out.square().mean(), parameters);
    const named = model.namedParameters();
    grads.forEach((g, i) =>
      assert.ok(
        g.data.some((v) => v !== 0),
        `no gradient reaches ${named[i][0]}`,
      ),
    );
  });

  test('rejects wrong inputs with the shapes in the message', () => {
    const model = new UNetModel({ ...MNIST, num_classes: 10 }, new Generator(5));
    const x = Tensor.randn([2, 3, 8, 8]);
    const t = Tensor.from([1, 2]);
    const context = Tensor.randn([2, 1, 64]);
    const y = Tensor.from([3, 9]);
    const calls: [() => unknown, RegExp][] = [
      [() => model.forward(Tensor.randn([2, 4, 8, 8]), t, { context, y }), /expected x \[N, 3, H, W\].*\[2, 4, 8, 8\]/],
      [() => model.forward(Tensor.randn([2, 3, 7, 8]), t, { context, y }), /multiples of 2, got \[2, 3, 7, 8\]/],
      [() => model.forward(x, Tensor.from([1]), { context, y }), /expected timesteps \[2\]/],
      [() => model.forward(x, t, { context }), /class-conditional.*pass y/],
      [() => model.forward(x, t, { context, y: Tensor.from([3, 10]) }), /class label 10 at 1/],
      [() => model.forward(x, t, { context, y: Tensor.from([3, 1.5]) }), /class label 1.5/],
      [() => model.forward(x, t, { context: Tensor.randn([2, 1, 32]), y }), /expected context \[2, L, 64\]/],
      [() => model.forward(x, t, { y }), /needs a context \[B, L, 64\]/],
    ];
    for (const [call, message] of calls) assert.throws(call, message);
    const plain = new UNetModel(SMALL);
    assert.throws(
      () => plain.forward(Tensor.randn([1, 2, 4, 4]), Tensor.from([0]), { y: Tensor.from([0]) }),
      /no num_classes/,
    );
    assert.throws(
      () => plain.forward(Tensor.randn([1, 2, 4, 4]), Tensor.from([0]), { context }),
      /no spatial transformers/,
    );
  });
});

describe('timestepEmbedding', () => {
  test('cosines first, then sines, frequencies exp(-ln(10000) i / half)', () => {
    const emb = timestepEmbedding(Tensor.from([0, 3]), 6);
    assert.deepEqual(emb.shape, [2, 6]);
    assert.deepEqual(Array.from(emb.data.slice(0, 6)), [1, 1, 1, 0, 0, 0]);
    const frequencies = [0, 1, 2].map((i) => Math.exp((-Math.log(10000) * i) / 3));
    const expected = [...frequencies.map((f) => Math.cos(3 * f)), ...frequencies.map((f) => Math.sin(3 * f))];
    expected.forEach((v, i) => assert.ok(Math.abs(emb.data[6 + i] - v) < 1e-7, `entry ${i}`));
  });

  test('an odd dimension gets a zero last column', () => {
    const emb = timestepEmbedding(Tensor.from([7, 100]), 5);
    assert.deepEqual(emb.shape, [2, 5]);
    assert.equal(emb.data[4], 0);
    assert.equal(emb.data[9], 0);
    assert.ok(Math.abs(emb.data[5] - Math.cos(100)) < 1e-6);
  });

  test('rejects timesteps that are not [N]', () => {
    assert.throws(() => timestepEmbedding(Tensor.zeros([2, 1]), 4), /expected timesteps \[N\]/);
  });
});
