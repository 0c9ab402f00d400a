// The LatentDiffusion wrapper: routing of each conditioning_key to the U-Net, the null class of
// guidance, scale_factor in encode/decode, and loading CompVis-style state dicts (schedule
// buffers skipped, model_ema.* used on request, unknown keys refused).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { readCompVisConfig } from '../../src/io/config.js';
import { parseConfigText } from '../../src/io/config.js';
import { AutoencoderKL } from '../../src/models/autoencoder/autoencoder-kl.js';
import { DDCONFIG_DEFAULTS } from '../../src/models/autoencoder/config.js';
import { ldmFromConfig, ldmStateDict, loadLdmStateDict } from '../../src/models/ldm/checkpoint.js';
import { readLdmConfig } from '../../src/models/ldm/config.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { tinyLdmYaml } from '../train/ldm-tiny-setup.js';

const firstStage = (): AutoencoderKL =>
  new AutoencoderKL(
    {
      ddconfig: {
        ...DDCONFIG_DEFAULTS,
        resolution: 16,
        in_channels: 3,
        out_ch: 3,
        z_channels: 2,
        ch: 32,
        ch_mult: [1, 2],
        num_res_blocks: 1,
      },
      embed_dim: 2,
    },
    new Generator(3),
  );

function build(yaml: string) {
  const config = readLdmConfig(readCompVisConfig(parseConfigText(yaml, 'test.yaml'), 'test.yaml'));
  return ldmFromConfig(config.model, firstStage(), new Generator(1));
}

describe('LatentDiffusion', () => {
  test('class conditioning through cross-attention, with a null class only when trained for guidance', () => {
    const guided = build(tinyLdmYaml({ classes: 3, ucgRate: 0.1 }));
    assert.equal(guided.numClasses, 3);
    assert.equal(guided.nullClass, 3);
    assert.equal(guided.conditionDropout, 0.1);
    const cond = guided.conditioning({ labels: [0, 2] });
    assert.deepEqual(cond.context?.shape, [2, 1, 16]);
    const uncond = guided.unconditionalConditioning(2);
    assert.deepEqual(uncond?.context?.data, guided.conditioning({ labels: [3, 3] }).context?.data);
    const plain = build(tinyLdmYaml({ classes: 3, ucgRate: 0 }));
    assert.equal(plain.numClasses, 4);
    assert.equal(plain.nullClass, null);
    assert.equal(plain.unconditionalConditioning(2), null);
    const unconditional = build(tinyLdmYaml({ classes: null }));
    assert.equal(unconditional.numClasses, null);
    assert.throws(() => unconditional.conditioning({ labels: [1] }), /not class-conditional/);
  });

  test('guided denoiser = u + s (c - u) of the two branches', () => {
    const ldm = build(tinyLdmYaml({ classes: 2, ucgRate: 0.2 }));
    // Non-zero weights everywhere, so that the output depends on the condition.
    const g = new Generator(5);
    for (const p of ldm.model.parameters()) p.data.set(Tensor.randn(p.shape, g).mul(0.1).data);
    noGrad(() => {
      const x = Tensor.randn([2, 2, 8, 8], new Generator(2));
      const cond = ldm.conditioning({ labels: [0, 1] });
      const uncond = ldm.unconditionalConditioning(2)!;
      const c = ldm.denoiser(cond, null, 1)(x, 10);
      const u = ldm.denoiser(uncond, null, 1)(x, 10);
      const guided = ldm.denoiser(cond, uncond, 2.5)(x, 10);
      const expected = u.add(c.sub(u).mul(2.5));
      assert.ok(c.sub(u).abs().max().item() > 1e-4, 'the condition matters');
      assert.ok(guided.sub(expected).abs().max().item() < 1e-5);
    });
  });

  test('encode and decode apply scale_factor; the first stage stays frozen and in eval mode', () => {
    const ldm = build(tinyLdmYaml({ classes: 2 }));
    ldm.scaleFactor = 0.5;
    const images = Tensor.rand([1, 3, 16, 16], new Generator(4), -1, 1);
    const z = ldm.encodeFirstStage(images);
    const raw = noGrad(() => ldm.firstStageModel.encodeLatent(images));
    assert.ok(z.sub(raw.mul(0.5)).abs().max().item() < 1e-6);
    const decoded = ldm.decodeFirstStage(z);
    const direct = noGrad(() => ldm.firstStageModel.decodeLatent(raw));
    assert.ok(decoded.sub(direct).abs().max().item() < 1e-5);
    ldm.train();
    assert.equal(ldm.firstStageModel.training, false);
    assert.ok(ldm.firstStageModel.parameters().every((p) => !p.requiresGrad));
    assert.ok(ldm.model.parameters().every((p) => p.requiresGrad));
  });

  test('concat and adm conditioning reach the U-Net input and its label embedding', () => {
    const concatYaml = tinyLdmYaml({ classes: null })
      .replace('in_channels: 2', 'in_channels: 4')
      .replace(
        '    unet_config:',
        '    conditioning_key: concat\n    cond_stage_config: __is_first_stage__\n    unet_config:',
      );
    const concat = build(concatYaml);
    const image = Tensor.rand([1, 3, 16, 16], new Generator(6), -1, 1);
    const cond = concat.conditioning({ image });
    assert.deepEqual(cond.concat?.shape, [1, 2, 8, 8]);
    const out = noGrad(() => concat.applyModel(Tensor.zeros([1, 2, 8, 8]), Tensor.from([5], [1]), cond));
    assert.deepEqual(out.shape, [1, 2, 8, 8]);
    assert.throws(() => concat.applyModel(Tensor.zeros([1, 2, 8, 8]), Tensor.from([5], [1]), {}), /needs a concat/);
    const admYaml = tinyLdmYaml({ classes: null })
      .replace('        num_head_channels: 16\n', '        num_head_channels: 16\n        num_classes: 4\n')
      .replace('    unet_config:', '    conditioning_key: adm\n    unet_config:');
    const adm = build(admYaml);
    assert.equal(adm.numClasses, 4);
    assert.deepEqual(adm.conditioning({ labels: [3] }).y?.data, Float32Array.from([3]));
  });

  test('state dicts: scale_factor and CompVis buffers; model_ema.* on request; unknown keys refused', () => {
    const ldm = build(tinyLdmYaml({ classes: 2 }));
    ldm.scaleFactor = 0.25;
    const saved = ldmStateDict(ldm);
    const other = build(tinyLdmYaml({ classes: 2 }));
    const withBuffers = new Map(saved);
    withBuffers.set('betas', { shape: [100], data: new Float32Array(100) });
    withBuffers.set('alphas_cumprod', { shape: [100], data: new Float32Array(100) });
    loadLdmStateDict(other, withBuffers);
    assert.equal(other.scaleFactor, 0.25);
    const key = 'model.diffusion_model.out.2.weight';
    assert.deepEqual(other.stateDict().get(key)!.data, saved.get(key)!.data);
    // The original's EMA copy: the same names under model_ema. without dots.
    const withEma = new Map(saved);
    for (const [name, value] of saved) {
      if (!name.startsWith('model.')) continue;
      const flat = `model_ema.${name.slice('model.'.length).replaceAll('.', '')}`;
      withEma.set(flat, { shape: value.shape, data: value.data.map(() => 0.5) });
    }
    loadLdmStateDict(other, withEma, { ema: true });
    assert.ok(
      other
        .stateDict()
        .get(key)!
        .data.every((v) => v === 0.5),
    );
    loadLdmStateDict(other, withEma);
    assert.deepEqual(other.stateDict().get(key)!.data, saved.get(key)!.data);
    const unknown = new Map(saved);
    unknown.set('model.diffusion_model.extra.weight', { shape: [1], data: new Float32Array(1) });
    assert.throws(() => loadLdmStateDict(other, unknown), /extra\.weight/);
  });
});
