// First-stage configs: the CompVis YAML layout loads as is (a config modelled on the published
// kl-f8 one), JSON too; unknown keys and wrong types are errors naming the key, place and file;
// the shipped presets load and build.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import {
  AutoencoderKL,
  ConfigError,
  VQModel,
  autoencoderFromConfig,
  autoencoderPresetNames,
  autoencoderPresetPath,
  loadAutoencoderConfig,
  parseConfigText,
  readAutoencoderConfig,
  readAutoencoderNode,
  readCompVisConfig,
} from '../../src/index.js';

/** Laid out like models/first_stage_models/kl-f8/config.yaml of the CompVis release. */
const KL_F8_YAML = `model:
  base_learning_rate: 4.5e-06
  target: ldm.models.autoencoder.AutoencoderKL
  params:
    monitor: val/rec_loss
    embed_dim: 4
    lossconfig:
      target: ldm.modules.losses.LPIPSWithDiscriminator
      params:
        disc_start: 50001
        kl_weight: 1.0e-06
        disc_weight: 0.5
    ddconfig:
      double_z: true
      z_channels: 4
      resolution: 256
      in_channels: 3
      out_ch: 3
      ch: 128
      ch_mult:
      - 1
      - 2
      - 4
      - 4
      num_res_blocks: 2
      attn_resolutions: []
      dropout: 0.0
data:
  target: main.DataModuleFromConfig
  params:
    batch_size: 4
    wrap: true
    train:
      target: ldm.data.openimages.FullOpenImagesTrain
      params:
        size: 384
        crop_size: 256
    validation:
      target: ldm.data.openimages.FullOpenImagesValidation
      params:
        size: 384
        crop_size: 256
`;

function load(text: string, source = 'kl-f8.yaml'): ReturnType<typeof readAutoencoderConfig> {
  return readAutoencoderConfig(readCompVisConfig(parseConfigText(text, source), source));
}

/** Asserts a ConfigError whose message contains every fragment. */
function assertConfigError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: Error) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err.name}: ${err.message}`);
    for (const fragment of fragments) assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
    return true;
  });
}

describe('first-stage configs', () => {
  test('the CompVis kl-f8 YAML loads as is', () => {
    const config = load(KL_F8_YAML);
    assert.equal(config.model.kind, 'kl');
    assert.equal(config.model.target, 'ldm.models.autoencoder.AutoencoderKL');
    assert.equal(config.base_learning_rate, 4.5e-6);
    assert.equal(config.batch_size, 4);
    const { params } = config.model;
    assert.equal(params.embed_dim, 4);
    assert.equal(params.monitor, 'val/rec_loss');
    assert.deepEqual(params.ddconfig, {
      double_z: true,
      z_channels: 4,
      resolution: 256,
      in_channels: 3,
      out_ch: 3,
      ch: 128,
      ch_mult: [1, 2, 4, 4],
      num_res_blocks: 2,
      attn_resolutions: [],
      dropout: 0,
    });
    assert.equal(params.lossconfig.target, 'ldm.modules.losses.LPIPSWithDiscriminator');
    assert.equal(params.lossconfig.params.disc_start, 50001);
    assert.equal(params.lossconfig.params.kl_weight, 1e-6);
    assert.equal(params.lossconfig.params.disc_weight, 0.5);
    assert.equal(params.lossconfig.params.perceptual_weight, 1, 'defaults fill what the file leaves out');
    assert.equal(config.file.data?.params.train?.target, 'ldm.data.openimages.FullOpenImagesTrain');
  });

  test('the same config as JSON gives the same result', () => {
    const yaml = load(KL_F8_YAML);
    const json = load(JSON.stringify(parseConfigText(KL_F8_YAML, 'x.yaml')), 'kl-f8.json');
    assert.deepEqual(json.model, yaml.model);
  });

  test('an unknown key is an error naming the key, its place and the file, with a suggestion', () => {
    assertConfigError(
      () => load(KL_F8_YAML.replace('ch_mult:', 'ch_mul:')),
      'config kl-f8.yaml',
      'model.params.ddconfig',
      'unknown key "ch_mul"',
      'did you mean "ch_mult"?',
    );
    assertConfigError(
      () => load(KL_F8_YAML.replace('kl_weight', 'kl_wieght')),
      'lossconfig.params',
      'did you mean "kl_weight"?',
    );
    assertConfigError(() => load(KL_F8_YAML.replace('data:', 'dataa:')), 'unknown key "dataa"', 'did you mean "data"?');
    assertConfigError(
      () => load(KL_F8_YAML.replace('monitor:', 'frobnicate:')),
      'unknown key "frobnicate"',
      'known keys: embed_dim',
    );
  });

  test('wrong types, unknown targets and keys of the other model family are errors', () => {
    assertConfigError(
      () => load(KL_F8_YAML.replace('ch: 128', 'ch: "128"')),
      'model.params.ddconfig.ch',
      'expected integer',
    );
    assertConfigError(() => load(KL_F8_YAML.replace('num_res_blocks: 2', 'num_res_blocks: 2.5')), 'expected integer');
    assertConfigError(
      () => load(KL_F8_YAML.replace('models.autoencoder.AutoencoderKL', 'models.diffusion.ddpm.LatentDiffusion')),
      'is not a first-stage model',
    );
    assertConfigError(
      () => load(KL_F8_YAML.replace('embed_dim: 4', 'embed_dim: 4\n    n_embed: 16')),
      '"n_embed" does not apply to a KL autoencoder',
    );
    assertConfigError(
      () =>
        load(
          KL_F8_YAML.replace(
            'ldm.modules.losses.LPIPSWithDiscriminator',
            'taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator',
          ),
        ),
      'belongs to VQ models',
    );
    assertConfigError(() => parseConfigText('model: [1, 2', 'broken.yaml'), 'config broken.yaml', 'cannot parse');
  });

  test('a VQ config and an LDM first_stage_config node (VQModelInterface, Identity loss)', () => {
    const vq = load(
      KL_F8_YAML.replace('AutoencoderKL', 'VQModel')
        .replace('embed_dim: 4', 'embed_dim: 4\n    n_embed: 16384')
        .replace('double_z: true', 'double_z: false')
        .replace(
          'ldm.modules.losses.LPIPSWithDiscriminator',
          'taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator',
        )
        .replace('kl_weight: 1.0e-06', 'codebook_weight: 1.0')
        .replace('        disc_weight: 0.5\n', ''),
      'vq-f8.yaml',
    );
    assert.equal(vq.model.kind, 'vq');
    assert.equal(vq.model.params.n_embed, 16384);
    assert.equal(vq.model.params.lossconfig.params.disc_weight, 0.75, "the VQ configs' discriminator weight");
    assert.equal(vq.model.params.legacy, true);
    const node = parseConfigText(
      `target: ldm.models.autoencoder.VQModelInterface
params:
  embed_dim: 3
  n_embed: 8192
  ddconfig: { double_z: false, z_channels: 3, resolution: 256, in_channels: 3, out_ch: 3, ch: 128, ch_mult: [1, 2, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0 }
  lossconfig:
    target: torch.nn.Identity
`,
      'ldm.yaml',
    );
    const firstStage = readAutoencoderNode(node, { source: 'ldm.yaml', path: 'model.params.first_stage_config' });
    assert.equal(firstStage.kind, 'vq');
    assert.equal(firstStage.params.lossconfig.target, 'torch.nn.Identity');
  });

  test('loadAutoencoderConfig reads a file and names it in errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-config-'));
    try {
      const file = path.join(dir, 'my-kl.yaml');
      fs.writeFileSync(file, KL_F8_YAML.replace('z_channels: 4', 'z_chanels: 4'));
      assertConfigError(() => loadAutoencoderConfig(file), `config ${file}`, 'did you mean "z_channels"?');
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  test('every shipped preset loads; the CPU presets build with their documented sizes', () => {
    const names = autoencoderPresetNames();
    for (const expected of ['kl-f4', 'kl-f8', 'kl-f16', 'vq-f4', 'vq-f8', 'cpu/kl-f4-32px-1ch', 'cpu/kl-f8-64px-3ch']) {
      assert.ok(names.includes(expected), `preset ${expected}`);
    }
    /** Parameter counts, as listed in configs/autoencoder/README.md. */
    const documented: Record<string, number> = PRESET_PARAMETERS;
    for (const name of names) {
      const config = loadAutoencoderConfig(autoencoderPresetPath(name));
      if (!name.startsWith('cpu/')) continue;
      const model = autoencoderFromConfig(config.model);
      assert.ok(model instanceof (config.model.kind === 'kl' ? AutoencoderKL : VQModel));
      assert.equal(model.numParameters(), documented[name], `${name} parameters`);
    }
    assert.throws(() => autoencoderPresetPath('kl-f5'), /preset "kl-f5" does not exist; presets: .*kl-f4/);
  });
});

const PRESET_PARAMETERS: Record<string, number> = {
  'cpu/kl-f4-32px-1ch': 729_821,
  'cpu/kl-f4-32px-3ch': 730_975,
  'cpu/kl-f4-64px-3ch': 730_975,
  'cpu/kl-f8-32px-1ch': 1_027_781,
  'cpu/kl-f8-32px-3ch': 1_028_935,
  'cpu/kl-f8-64px-3ch': 1_028_935,
  'cpu/vq-f4-32px-1ch': 728_828,
  'cpu/vq-f4-32px-3ch': 729_982,
  'cpu/vq-f4-64px-3ch': 730_750,
};
