// Behaviour of the first-stage losses beyond PyTorch parity (losses-parity.test.ts): the
// discriminator's layout and initialisation, the GAN loss formulas, disc_start, the clamp of
// the adaptive weight, the VQ codebook term, frozen discriminator weights in the generator phase,
// and building a loss from a CompVis lossconfig.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import {
  LPIPSWithDiscriminator,
  MAX_ADAPTIVE_WEIGHT,
  NLayerDiscriminator,
  SSIMLoss,
  VQLPIPSWithDiscriminator,
  adoptWeight,
  hingeDLoss,
  lossFromConfig,
  softplus,
  vanillaDLoss,
} from '../../src/models/losses/index.js';
import * as F from '../../src/tensor/functional.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertNumberClose } from './losses-helpers.js';

function meanAndStd(data: Float32Array): [number, number] {
  const mean = data.reduce((s, v) => s + v, 0) / data.length;
  const variance = data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length;
  return [mean, Math.sqrt(variance)];
}

describe('NLayerDiscriminator', () => {
  test('layout of the original: Sequential indices, no bias before BatchNorm, channel widths', () => {
    const d = new NLayerDiscriminator({ generator: new Generator(1) });
    const shapes = [...d.stateDict()].map(([key, t]) => `${key} ${JSON.stringify(t.shape)}`);
    const bn = (i: number, c: number): string[] =>
      ['weight', 'bias', 'running_mean', 'running_var']
        .map((k) => `main.${i}.${k} [${c}]`)
        .concat(`main.${i}.num_batches_tracked []`);
    assert.deepEqual(shapes, [
      'main.0.weight [64,3,4,4]',
      'main.0.bias [64]',
      'main.2.weight [128,64,4,4]',
      ...bn(3, 128),
      'main.5.weight [256,128,4,4]',
      ...bn(6, 256),
      'main.8.weight [512,256,4,4]',
      ...bn(9, 512),
      'main.11.weight [1,512,4,4]',
      'main.11.bias [1]',
    ]);
    // 256 px -> 30 x 30 patches, as in pix2pix's 70 x 70 receptive-field PatchGAN.
    const small = new NLayerDiscriminator({ ndf: 2, generator: new Generator(1) });
    assert.deepEqual(small.forward(Tensor.zeros([1, 3, 64, 64])).shape, [1, 1, 6, 6]);
  });

  test('weights_init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0', () => {
    const d = new NLayerDiscriminator({ generator: new Generator(2) });
    const [convMean, convStd] = meanAndStd(d.stateDict().get('main.8.weight')!.data);
    assert.ok(Math.abs(convMean) < 1e-3 && Math.abs(convStd - 0.02) < 1e-3, `conv ${convMean} ${convStd}`);
    const [bnMean, bnStd] = meanAndStd(d.stateDict().get('main.9.weight')!.data);
    assert.ok(Math.abs(bnMean - 1) < 5e-3 && Math.abs(bnStd - 0.02) < 5e-3, `bn ${bnMean} ${bnStd}`);
    assert.ok(
      d
        .stateDict()
        .get('main.9.bias')!
        .data.every((v) => v === 0),
    );
  });
});

describe('GAN losses', () => {
  const real = Tensor.from([2, 0.5, -1, 0]);
  const fake = Tensor.from([-3, -0.5, 0.25, 1]);
  test('hinge: 0.5 * (mean relu(1 - real) + mean relu(1 + fake))', () => {
    const expected = 0.5 * ((0 + 0.5 + 2 + 1) / 4 + (0 + 0.5 + 1.25 + 2) / 4);
    assertNumberClose('hinge', hingeDLoss(real, fake).item(), expected, 1e-6);
  });
  test('vanilla: 0.5 * (mean softplus(-real) + mean softplus(fake)); softplus does not overflow', () => {
    const sp = (x: number): number => Math.log1p(Math.exp(x));
    const expected =
      0.5 *
      ([2, 0.5, -1, 0].reduce((s, v) => s + sp(-v), 0) / 4 + [-3, -0.5, 0.25, 1].reduce((s, v) => s + sp(v), 0) / 4);
    assertNumberClose('vanilla', vanillaDLoss(real, fake).item(), expected, 1e-6);
    assert.deepEqual([...softplus(Tensor.from([200, -200])).data], [200, 0]);
  });
  test('adoptWeight switches on at the threshold', () => {
    assert.equal(adoptWeight(0.7, 4, 5), 0);
    assert.equal(adoptWeight(0.7, 5, 5), 0.7);
  });
});

/** A tiny autoencoder step: images, a 1x1-conv "decoder" with its weight as the last layer, and a KL. */
function tinyStep(seed: number) {
  const gen = new Generator(seed);
  const inputs = Tensor.rand([2, 3, 32, 32], gen, -1, 1);
  const h = Tensor.randn([2, 4, 32, 32], gen);
  const lastLayer = Tensor.randn([3, 4, 1, 1], gen).mul(0.3).detach().requireGrad();
  const reconstructions = F.conv2d(h, lastLayer);
  const mean = Tensor.randn([2, 2, 4, 4], gen).requireGrad();
  const kl = F.sum(F.mul(mean, mean), [1, 2, 3]).mul(0.5);
  return { inputs, reconstructions, lastLayer, kl, mean };
}

describe('LPIPSWithDiscriminator (KL)', () => {
  test('before disc_start: disc_factor 0, no GAN term, no adaptive weight, discriminator loss 0', () => {
    const loss = new LPIPSWithDiscriminator({ discNdf: 8, discStart: 10, klWeight: 0.01, generator: new Generator(3) });
    const step = tinyStep(4);
    const { loss: total, log } = loss.generatorLoss({ ...step, globalStep: 9 }); // lastLayer not even needed
    assert.equal(log.disc_factor, 0);
    assert.equal(log.d_weight, 0);
    assert.ok(Number.isFinite(log.g_loss));
    assertNumberClose('total', total.item(), log.nll_loss + 0.01 * log.kl_loss, 1e-6);
    const disc = loss.discriminatorLoss({ ...step, globalStep: 9 });
    assert.equal(disc.loss.item(), 0);
    assert.ok(Number.isFinite(disc.log.logits_real) && Number.isFinite(disc.log.logits_fake));
  });

  test('the adaptive weight is clamped to 1e4 * disc_weight', () => {
    const loss = new LPIPSWithDiscriminator({ discNdf: 8, discStart: 0, discWeight: 0.5, generator: new Generator(5) });
    // A zero last conv: D's output no longer depends on its input, so ||grad g_loss|| = 0.
    loss.discriminator.stateDict().get('main.11.weight')!.data.fill(0);
    const { log } = loss.generatorLoss({ ...tinyStep(6), globalStep: 0 });
    assert.equal(log.d_weight, MAX_ADAPTIVE_WEIGHT * 0.5);
  });

  test('two phases: the generator loss reaches the decoder and logvar; the discriminator loss only D', () => {
    const loss = new LPIPSWithDiscriminator({ discNdf: 8, discStart: 0, generator: new Generator(7) });
    const step = tinyStep(8);
    const { loss: total, log } = loss.generatorLoss({ ...step, globalStep: 1 });
    assert.ok(log.d_weight > 0 && log.d_weight < MAX_ADAPTIVE_WEIGHT);
    total.backward();
    assert.ok(step.lastLayer.grad !== null && step.mean.grad !== null && loss.logvar.grad !== null);
    const decoderGrad = step.lastLayer.grad.data.slice();
    loss.discriminator.zeroGrad();
    loss.discriminatorLoss({ ...step, globalStep: 1 }).loss.backward();
    assert.ok(loss.discriminatorParameters().every((p) => p.grad !== null));
    assert.deepEqual(step.lastLayer.grad.data, decoderGrad, 'reconstructions are detached in the discriminator phase');
  });

  test('after disc_start, training needs the last layer; eval mode uses d_weight 0 without it', () => {
    const loss = new LPIPSWithDiscriminator({ discNdf: 8, discStart: 0, generator: new Generator(9) });
    const step = { ...tinyStep(10), lastLayer: undefined };
    assert.throws(() => loss.generatorLoss({ ...step, globalStep: 1 }), /lastLayer/);
    loss.eval();
    assert.equal(loss.generatorLoss({ ...step, globalStep: 1 }).log.d_weight, 0);
  });

  test('rejects a kl of the wrong length', () => {
    const loss = new LPIPSWithDiscriminator({ discNdf: 8, discStart: 5 });
    const step = tinyStep(11);
    assert.throws(() => loss.generatorLoss({ ...step, kl: Tensor.zeros([3]), globalStep: 0 }), /one value per sample/);
  });
});

describe('VQLPIPSWithDiscriminator', () => {
  test('total = mean(rec) + codebook_weight * codebook_loss before disc_start; p_loss logged', () => {
    const loss = new VQLPIPSWithDiscriminator({
      discNdf: 8,
      discStart: 100,
      codebookWeight: 0.25,
      generator: new Generator(12),
    });
    const { inputs, reconstructions } = tinyStep(13);
    const { loss: total, log } = loss.generatorLoss({
      inputs,
      reconstructions,
      codebookLoss: Tensor.from([0.4, 0.8]),
      globalStep: 0,
    });
    assertNumberClose('quant_loss', log.quant_loss, 0.6, 1e-6);
    assertNumberClose('total', total.item(), log.nll_loss + 0.25 * 0.6, 1e-6);
    assert.ok(log.p_loss > 0 && log.p_loss < 2, `p_loss ${log.p_loss}`);
    assert.equal(loss.discWeight, 0.75);
    const none = new VQLPIPSWithDiscriminator({ discNdf: 8, discStart: 100, perceptualLoss: 'none' });
    assert.equal(none.generatorLoss({ inputs, reconstructions, globalStep: 0 }).log.p_loss, 0);
  });
});

describe('lossFromConfig', () => {
  test('builds KL and VQ losses from CompVis lossconfig blocks', () => {
    const kl = lossFromConfig({
      target: 'ldm.modules.losses.LPIPSWithDiscriminator',
      params: { disc_start: 50001, kl_weight: 1e-6, disc_weight: 0.5 },
    });
    assert.ok(kl instanceof LPIPSWithDiscriminator && kl.discStart === 50001 && kl.klWeight === 1e-6);
    assert.ok(kl.perceptualLoss instanceof SSIMLoss, 'SSIM is the default perceptual term');
    const keys = [...kl.stateDict().keys()];
    assert.equal(keys[0], 'logvar');
    assert.ok(keys.includes('discriminator.main.11.bias') && !keys.some((k) => k.startsWith('perceptual_loss')));
    const vq = lossFromConfig({
      target: 'taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator',
      params: {
        disc_conditional: false,
        disc_in_channels: 3,
        disc_start: 1,
        disc_weight: 0.6,
        codebook_weight: 1.0,
        n_classes: 16,
      },
    });
    assert.ok(vq instanceof VQLPIPSWithDiscriminator && vq.discWeight === 0.6);
    assert.equal(lossFromConfig({ target: 'torch.nn.Identity' }), null);
    // A typed config section: both families' keys, filled with defaults (null where unset).
    const typed = {
      ...{ disc_start: 50001, logvar_init: 0, kl_weight: 1e-6, codebook_weight: 1, pixelloss_weight: 1 },
      ...{ perceptual_weight: 1, disc_num_layers: 3, disc_in_channels: 3, disc_ndf: 8, disc_factor: 1 },
      ...{ disc_weight: 0.5, use_actnorm: false, disc_conditional: false, disc_loss: 'hinge', n_classes: null },
      ...{ perceptual_loss: 'ssim', perceptual_weights: null, pixel_loss: 'l1' },
    };
    assert.ok(lossFromConfig({ target: 'AutoencoderKL.LPIPSWithDiscriminator', params: typed }) !== null);
    assert.ok(lossFromConfig({ target: 'VQLPIPSWithDiscriminator', params: typed }) !== null);
    const none = lossFromConfig({
      target: 'x.LPIPSWithDiscriminator',
      params: { disc_start: 0, perceptual_loss: 'none' },
    });
    assert.equal(none?.perceptualLoss, null);
  });

  test('clear errors for bad configs', () => {
    const kl = (params: Record<string, unknown>) => () =>
      lossFromConfig({ target: 'ldm.modules.losses.LPIPSWithDiscriminator', params });
    assert.throws(kl({ disc_start: 1, kl_wieght: 1 }), /unknown params kl_wieght/);
    assert.throws(kl({ kl_weight: 1 }), /disc_start is required/);
    assert.throws(kl({ disc_start: 1, perceptual_loss: 'lpips' }), /needs perceptual_weights/);
    assert.throws(kl({ disc_start: 1, perceptual_loss: 'vgg' }), /perceptual_loss must be one of/);
    assert.throws(kl({ disc_start: 1, disc_loss: 'wgan' }), /disc_loss must be "hinge" or "vanilla"/);
    assert.throws(kl({ disc_start: 1, use_actnorm: true }), /use_actnorm is not supported/);
    assert.throws(kl({ disc_start: '1' }), /disc_start must be a number/);
    assert.throws(() => lossFromConfig({ target: 'my.Loss' }), /not supported/);
  });
});
