// The first-stage autoencoders: CompVis key names and shapes, the KL posterior, vector
// quantisation (straight-through gradient, both commitment-loss forms), checkpoint errors.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import {
  AutoencoderKL,
  DDCONFIG_DEFAULTS,
  DiagonalGaussianDistribution,
  Generator,
  Tensor,
  VQModel,
  VectorQuantizer,
  autoencoderFromConfig,
  grad,
  inferArchitecture,
  loadAutoencoderStateDict,
  noGrad,
  optim,
  writeSafetensors,
  AUTOENCODER_PARAMS_DEFAULTS,
  type DDConfig,
} from '../../src/index.js';

/** f = 4 at 16 px, attention at the 8 px level, 2 res blocks per level. */
const TINY: DDConfig = {
  ...DDCONFIG_DEFAULTS,
  resolution: 16,
  in_channels: 3,
  out_ch: 3,
  ch: 32,
  ch_mult: [1, 2, 2],
  num_res_blocks: 2,
  attn_resolutions: [8],
  z_channels: 3,
};

function close(a: number, b: number, tolerance = 1e-5): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b));
}

describe('AutoencoderKL and VQModel layout', () => {
  test('state-dict keys and shapes are the CompVis ones', () => {
    const model = new AutoencoderKL({ ddconfig: TINY, embed_dim: 3 }, new Generator(0));
    const shapes = new Map([...model.stateDict()].map(([key, t]) => [key, t.shape]));
    const expected: [string, number[]][] = [
      ['encoder.conv_in.weight', [32, 3, 3, 3]],
      ['encoder.down.0.block.1.norm1.weight', [32]],
      ['encoder.down.0.downsample.conv.weight', [32, 32, 3, 3]],
      ['encoder.down.1.block.0.nin_shortcut.weight', [64, 32, 1, 1]],
      ['encoder.down.1.attn.1.q.weight', [64, 64, 1, 1]],
      ['encoder.mid.block_1.conv2.bias', [64]],
      ['encoder.mid.attn_1.proj_out.weight', [64, 64, 1, 1]],
      ['encoder.norm_out.weight', [64]],
      ['encoder.conv_out.weight', [6, 64, 3, 3]],
      ['decoder.conv_in.weight', [64, 3, 3, 3]],
      ['decoder.up.0.block.2.conv2.weight', [32, 32, 3, 3]],
      ['decoder.up.0.block.0.nin_shortcut.weight', [32, 64, 1, 1]],
      ['decoder.up.1.attn.2.k.weight', [64, 64, 1, 1]],
      ['decoder.up.2.upsample.conv.weight', [64, 64, 3, 3]],
      ['decoder.conv_out.weight', [3, 32, 3, 3]],
      ['quant_conv.weight', [6, 6, 1, 1]],
      ['post_quant_conv.weight', [3, 3, 1, 1]],
    ];
    for (const [key, shape] of expected) assert.deepEqual(shapes.get(key), shape, key);
    for (const absent of [
      'decoder.up.0.upsample.conv.weight',
      'encoder.down.2.downsample.conv.weight',
      'encoder.down.0.attn.0.q.weight',
    ]) {
      assert.ok(!shapes.has(absent), `${absent} must not exist`);
    }
    assert.ok(![...shapes.keys()].some((key) => key.includes('temb') || key.includes('dropout')));
  });

  test('VQModel has quantize.embedding.weight [n_embed, embed_dim] and 1x1 quant convs', () => {
    const model = new VQModel({ ddconfig: { ...TINY, double_z: false }, embed_dim: 5, n_embed: 12 }, new Generator(0));
    const shapes = new Map([...model.stateDict()].map(([key, t]) => [key, t.shape]));
    assert.deepEqual(shapes.get('quantize.embedding.weight'), [12, 5]);
    assert.deepEqual(shapes.get('quant_conv.weight'), [5, 3, 1, 1]);
    assert.deepEqual(shapes.get('post_quant_conv.weight'), [3, 5, 1, 1]);
    assert.deepEqual(shapes.get('encoder.conv_out.weight'), [3, 64, 3, 3]);
  });

  test('images [B, C, H, W] encode to [B, embed_dim, H / f, W / f] and decode back', () => {
    const generator = new Generator(1);
    const model = new AutoencoderKL({ ddconfig: { ...TINY, ch_mult: [1, 2] }, embed_dim: 3 }, generator).eval();
    assert.equal(model.downsamplingFactor, 2);
    assert.equal(model.latentChannels, 3);
    noGrad(() => {
      const x = Tensor.rand([2, 3, 8, 12], generator, -1, 1);
      const z = model.encodeLatent(x);
      assert.deepEqual(z.shape, [2, 3, 4, 6]);
      assert.deepEqual(model.decodeLatent(z).shape, [2, 3, 8, 12]);
      assert.deepEqual(model.encodeLatent(x, new Generator(5)).shape, [2, 3, 4, 6]);
    });
    assert.throws(() => model.encode(Tensor.zeros([1, 3, 7, 8])), /multiples of 2/);
    assert.throws(() => model.encode(Tensor.zeros([1, 1, 8, 8])), /expected images \[B, 3, H, W\]/);
  });

  test('bad architectures fail at construction with the setting named', () => {
    assert.throws(
      () => new AutoencoderKL({ ddconfig: { ...TINY, ch: 48 }, embed_dim: 3 }),
      /ch must be a multiple of 32/,
    );
    assert.throws(
      () => new AutoencoderKL({ ddconfig: { ...TINY, double_z: false }, embed_dim: 3 }),
      /double_z must be true/,
    );
    assert.throws(() => new VQModel({ ddconfig: TINY, embed_dim: 3, n_embed: 8 }), /double_z must be false/);
    assert.throws(() => new AutoencoderKL({ ddconfig: { ...TINY, ch_mult: [] }, embed_dim: 3 }), /ch_mult/);
  });

  test('dropout is active in training mode only', () => {
    const model = new AutoencoderKL(
      { ddconfig: { ...TINY, ch_mult: [1], dropout: 0.5 }, embed_dim: 3 },
      new Generator(2),
    );
    const x = Tensor.rand([1, 3, 4, 4], new Generator(3), -1, 1);
    const a = noGrad(() => model.encode(x).mean);
    const b = noGrad(() => model.encode(x).mean);
    assert.notDeepEqual(Array.from(a.data), Array.from(b.data));
    model.eval();
    assert.deepEqual(
      Array.from(noGrad(() => model.encode(x).mean).data),
      Array.from(noGrad(() => model.encode(x).mean).data),
    );
  });
});

describe('DiagonalGaussianDistribution', () => {
  // Two latent elements per batch item: [B=1, 2C=4, 1, 2].
  const moments = Tensor.from([[[[0.5, -1]], [[2, 0]], [[-50, 0.25]], [[30, -2]]]]);

  test('mean and log-variance are the channel halves; log-variance clamped to [-30, 20]', () => {
    const p = new DiagonalGaussianDistribution(moments);
    assert.deepEqual(Array.from(p.mean.data), [0.5, -1, 2, 0]);
    assert.deepEqual(Array.from(p.logvar.data), [-30, 0.25, 20, -2]);
    assert.ok(close(p.std.data[1], Math.exp(0.125)) && close(p.var.data[3], Math.exp(-2)));
  });

  test('KL = 0.5 * sum(mean^2 + var - 1 - logvar) over C, H, W', () => {
    const p = new DiagonalGaussianDistribution(moments);
    const terms = [
      [0.5, -30],
      [-1, 0.25],
      [2, 20],
      [0, -2],
    ].map(([m, lv]) => m * m + Math.exp(lv) - 1 - lv);
    const expected = 0.5 * terms.reduce((a, b) => a + b);
    assert.equal(p.kl().shape.length, 1);
    assert.ok(close(p.kl().item(), expected), `${p.kl().item()} vs ${expected}`);
    const standard = new DiagonalGaussianDistribution(Tensor.zeros([1, 4, 1, 2]));
    assert.ok(close(p.kl(standard).item(), expected, 1e-4), 'KL against N(0, I) given explicitly');
    assert.equal(standard.kl().item(), 0);
  });

  test('sample = mean + std * eps with eps from the generator; mode = mean', () => {
    const p = new DiagonalGaussianDistribution(moments);
    const sample = p.sample(new Generator(9));
    const eps = Tensor.randn([1, 2, 1, 2], new Generator(9));
    for (let i = 0; i < 4; i++) assert.ok(close(sample.data[i], p.mean.data[i] + p.std.data[i] * eps.data[i]));
    assert.equal(p.mode(), p.mean);
  });

  test('NLL = 0.5 * sum(log 2pi + logvar + (x - mean)^2 / var)', () => {
    const p = new DiagonalGaussianDistribution(Tensor.from([[[[1]], [[0.5]]]]));
    const x = Tensor.from([[[[2]]]]);
    const expected = 0.5 * (Math.log(2 * Math.PI) + 0.5 + 1 / Math.exp(0.5));
    assert.ok(close(p.nll(x).item(), expected));
  });
});

describe('VectorQuantizer', () => {
  // Codes on a line; latents [1, 1, 1, 3] with values near codes 2, 0 and 1.
  function setup(legacy: boolean): { vq: VectorQuantizer; z: Tensor } {
    const vq = new VectorQuantizer(3, 1, { legacy });
    vq.embedding.weight.copyFrom(Float32Array.of(0, 1, 2));
    return { vq, z: Tensor.from([[[[1.75, 0.25, 0.875]]]]).requireGrad() };
  }

  test('picks the nearest code by squared distance and returns indices [B, h, w]', () => {
    const { vq, z } = setup(true);
    const out = vq.forward(z);
    assert.deepEqual(out.indices.shape, [1, 1, 3]);
    assert.deepEqual(Array.from(out.indices.data), [2, 0, 1]);
    assert.deepEqual(Array.from(out.quantized.data), [2, 0, 1]);
    assert.ok(close(out.perplexity, 3));
  });

  test('both commitment forms: same value, beta on the codebook term (legacy) or the commitment term (corrected)', () => {
    const d = [0.25, -0.25, 0.125]; // z_q - z
    const mse = d.reduce((a, v) => a + v * v, 0) / 3;
    for (const legacy of [true, false]) {
      const { vq, z } = setup(legacy);
      const loss = vq.forward(z).loss;
      assert.ok(close(loss.item(), 1.25 * mse), 'value (1 + beta) * mse');
      const [gz, gCodebook] = grad(loss, [z, vq.embedding.weight]);
      const zWeight = legacy ? 1 : 0.25; // d/dz of w * mean((sg(z_q) - z)^2) = -2 w d / N
      const codeWeight = legacy ? 0.25 : 1;
      d.forEach((di, i) => assert.ok(close(gz.data[i], (-2 * zWeight * di) / 3), `z grad ${i}, legacy ${legacy}`));
      // Codes 2, 0, 1 are each used once, by positions 0, 1, 2.
      [1, 2, 0].forEach((position, code) =>
        assert.ok(close(gCodebook.data[code], (2 * codeWeight * d[position]) / 3), `codebook grad ${code}`),
      );
    }
  });

  test('straight-through: d quantized / d z is the identity', () => {
    const { vq, z } = setup(true);
    const weights = Tensor.from([[[[1, -2, 3]]]]);
    const [gz] = grad(vq.forward(z).quantized.mul(weights).sum(), [z]);
    assert.deepEqual(Array.from(gz.data), [1, -2, 3]);
  });

  test('in a VQModel the reconstruction gradient reaches the encoder, and training lowers the loss', () => {
    const generator = new Generator(4);
    const model = new VQModel(
      {
        ddconfig: { ...TINY, double_z: false, ch_mult: [1, 1], num_res_blocks: 1, attn_resolutions: [] },
        embed_dim: 3,
        n_embed: 8,
      },
      generator,
    );
    const x = Tensor.rand([2, 3, 8, 8], generator, -1, 1);
    // Codes drawn from the latents so that more than one is in use.
    const start = noGrad(() => model.encodePrequant(x));
    model.quantize.embedding.weight.copyFrom(start.permute([0, 2, 3, 1]).reshape([-1, 3]).slice(0, 0, 8));
    const lossOf = (): { total: Tensor; rec: Tensor } => {
      const out = model.forward(x);
      const rec = out.reconstruction.sub(x).abs().mean();
      return { total: rec.add(out.quantLoss), rec };
    };
    const [encoderGrad] = grad(lossOf().rec, [model.encoder.convIn.weight]);
    assert.ok(
      encoderGrad.data.some((v) => v !== 0),
      'the reconstruction loss alone must reach the encoder',
    );
    const adam = new optim.Adam(model.parameters(), { lr: 1e-3 });
    const first = noGrad(() => lossOf().total.item());
    for (let step = 0; step < 5; step++) {
      adam.zeroGrad();
      lossOf().total.backward();
      adam.step();
    }
    const last = noGrad(() => lossOf().total.item());
    assert.ok(last < first, `loss ${first} -> ${last}`);
  });
});

describe('loading first-stage checkpoints', () => {
  const klModel = (): AutoencoderKL =>
    new AutoencoderKL({ ddconfig: { ...TINY, ch_mult: [1, 2] }, embed_dim: 3 }, new Generator(0));

  test('a checkpoint of another architecture names both architectures', () => {
    const vq = new VQModel({ ddconfig: { ...TINY, ch_mult: [1, 2], double_z: false }, embed_dim: 3, n_embed: 8 });
    const target = klModel();
    const before = Array.from(target.encoder.convIn.weight.data);
    assert.throws(
      () => loadAutoencoderStateDict(target, vq.stateDict()),
      (err: Error) =>
        err.message.includes(
          'the checkpoint holds VQModel (in_channels 3, ch 32, ch_mult [1, 2], num_res_blocks 2, z_channels 3, embed_dim 3, n_embed 8)',
        ) &&
        err.message.includes('the model is AutoencoderKL') &&
        err.message.includes('unexpected keys (1): quantize.embedding.weight'),
    );
    assert.deepEqual(Array.from(target.encoder.convIn.weight.data), before, 'nothing is loaded');
    const wider = new AutoencoderKL({ ddconfig: { ...TINY, ch_mult: [1, 2, 2] }, embed_dim: 3 });
    assert.throws(
      () => loadAutoencoderStateDict(klModel(), wider.stateDict()),
      /holds AutoencoderKL \(.*ch_mult \[1, 2, 2\].*the model is AutoencoderKL \(.*ch_mult \[1, 2\]/s,
    );
    const unet = new Map([['model.diffusion_model.input_blocks.0.0.weight', Tensor.zeros([4, 4, 3, 3])]]);
    assert.throws(
      () => loadAutoencoderStateDict(klModel(), unet),
      /not a first-stage autoencoder checkpoint.*input_blocks/,
    );
  });

  test('an LDM checkpoint (first_stage_model.*) and loss.* keys are handled', () => {
    const source = klModel();
    const target = new AutoencoderKL({ ddconfig: { ...TINY, ch_mult: [1, 2] }, embed_dim: 3 }, new Generator(1));
    const full = new Map<string, Tensor>([['model.diffusion_model.out.2.weight', Tensor.zeros([1])]]);
    for (const [key, value] of source.stateDict()) full.set(`first_stage_model.${key}`, value);
    full.set('first_stage_model.loss.logvar', Tensor.zeros([]));
    const { loss } = loadAutoencoderStateDict(target, full);
    assert.deepEqual([...loss.keys()], ['logvar']);
    assert.deepEqual(Array.from(target.quantConv.weight.data), Array.from(source.quantConv.weight.data));
    assert.equal(inferArchitecture(source.stateDict())?.kind, 'AutoencoderKL');
  });

  test('autoencoderFromConfig loads ckpt_path, leaving out ignore_keys', () => {
    const ddconfig = { ...TINY, ch_mult: [1, 2] };
    const source = new AutoencoderKL({ ddconfig, embed_dim: 3 }, new Generator(5));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-ae-'));
    try {
      const file = path.join(dir, 'kl.safetensors');
      const weights = source.stateDict();
      weights.set('loss.logvar', Tensor.zeros([]));
      writeSafetensors(file, weights);
      const params = {
        ...AUTOENCODER_PARAMS_DEFAULTS,
        ddconfig,
        embed_dim: 3,
        ckpt_path: file,
        ignore_keys: ['loss.'],
      };
      const model = autoencoderFromConfig({ kind: 'kl', target: 'ldm.models.autoencoder.AutoencoderKL', params });
      assert.deepEqual(Array.from(model.decoder.convOut.weight.data), Array.from(source.decoder.convOut.weight.data));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
