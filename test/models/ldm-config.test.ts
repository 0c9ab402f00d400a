// The LatentDiffusion config reader: the CompVis layout as the original files write it, our
// presets, and errors that name the key and the file.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { BERT_EMBEDDER_DEFAULTS } from '../../src/models/encoders/bert-embedder.js';
import { ldmFromConfig } from '../../src/models/ldm/checkpoint.js';
import { loadLdmConfig } from '../../src/models/ldm/config.js';
import { presetNames } from '../../src/io/package-files.js';
import { resolveLdmConfig } from '../../src/train/ldm-config.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/configs/', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeVariant(name: string, edit: (text: string) => string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, edit(fs.readFileSync(path.join(FIXTURES, 'cin-ldm-vq-f8.yaml'), 'utf8')));
  return file;
}

describe('LDM config', () => {
  test("the CompVis text-to-image config loads as it is; its text encoder's keys are the original's", () => {
    const text = fs.readFileSync(path.join(FIXTURES, 'txt2img-1p4B-eval.yaml'), 'utf8');
    const { model } = loadLdmConfig(path.join(FIXTURES, 'txt2img-1p4B-eval.yaml'));
    assert.equal(model.conditioningKey, 'crossattn');
    assert.equal(model.condStage.kind, 'text');
    assert.deepEqual(model.condStage.kind === 'text' && model.condStage.params, {
      ...BERT_EMBEDDER_DEFAULTS,
      n_embed: 1280,
      n_layer: 32,
    });
    assert.equal(model.params.scale_factor, 0.18215);
    // The same layout at a size a test can build.
    const small = path.join(dir, 'txt2img-small.yaml');
    fs.writeFileSync(
      small,
      text
        .replace('model_channels: 320', 'model_channels: 32')
        .replace('context_dim: 1280', 'context_dim: 16')
        .replace('n_embed: 1280', 'n_embed: 16')
        .replace('n_layer: 32', 'n_layer: 1')
        .replace('ch: 128', 'ch: 32'),
    );
    const ldm = ldmFromConfig(loadLdmConfig(small).model);
    const keys = ldm.stateDict().keys();
    const condKeys = [...keys].filter((key) => key.startsWith('cond_stage_model.'));
    for (const key of [
      'cond_stage_model.transformer.token_emb.weight',
      'cond_stage_model.transformer.pos_emb.emb.weight',
      'cond_stage_model.transformer.attn_layers.layers.0.1.to_q.weight',
      'cond_stage_model.transformer.attn_layers.layers.1.1.net.0.0.weight',
      'cond_stage_model.transformer.norm.weight',
      'cond_stage_model.transformer.to_logits.weight',
    ]) {
      assert.ok(condKeys.includes(key), key);
    }
    assert.equal(ldm.textEncoder?.params.vocab_size, 30522);
    assert.equal(ldm.textEncoder?.params.max_seq_len, 77);
  });

  test('the CompVis class-conditional ImageNet config loads as it is', () => {
    const config = loadLdmConfig(path.join(FIXTURES, 'cin-ldm-vq-f8.yaml'));
    const { model } = config;
    assert.equal(model.conditioningKey, 'crossattn');
    assert.equal(model.params.linear_start, 0.0015);
    assert.equal(model.params.channels, 4);
    assert.equal(model.params.beta_schedule, 'linear');
    assert.equal(model.unet.params.model_channels, 256);
    const firstStage = model.firstStage;
    assert.ok(firstStage !== null && firstStage !== 'identity');
    assert.equal(firstStage.kind, 'vq');
    assert.equal(firstStage.params.n_embed, 16384);
    assert.deepEqual(model.condStage, {
      kind: 'class',
      target: 'ldm.modules.encoders.modules.ClassEmbedder',
      params: { embed_dim: 512, n_classes: 1000, key: 'class_label', ucg_rate: 0 },
    });
    assert.equal(config.batch_size, 64);
    assert.equal(config.base_learning_rate, 1e-6);
  });

  test('every shipped preset loads', () => {
    const names = presetNames('ldm');
    assert.ok(names.includes('cpu/mnist-class-f4'));
    for (const name of names) {
      const config = resolveLdmConfig(name);
      assert.equal(config.model.target, 'ldm.models.diffusion.ddpm.LatentDiffusion', name);
    }
  });

  test('mistakes name the key and the file', () => {
    const typo = writeVariant('typo.yaml', (t) => t.replace('linear_end: 0.0195', 'linear_edn: 0.0195'));
    assert.throws(
      () => loadLdmConfig(typo),
      (err: Error) =>
        /typo\.yaml/.test(err.message) &&
        /linear_edn/.test(err.message) &&
        /did you mean "linear_end"/.test(err.message),
    );
    const schedule = writeVariant('schedule.yaml', (t) =>
      t.replace('timesteps: 1000', 'timesteps: 1000\n    beta_schedule: quadratic'),
    );
    assert.throws(() => loadLdmConfig(schedule), /unknown schedule "quadratic"/);
    const encoder = writeVariant('clip.yaml', (t) =>
      t.replace('ldm.modules.encoders.modules.ClassEmbedder', 'ldm.modules.encoders.modules.FrozenCLIPEmbedder'),
    );
    assert.throws(
      () => loadLdmConfig(encoder),
      /conditioning encoder "ldm\.modules\.encoders\.modules\.FrozenCLIPEmbedder" is not supported/,
    );
    const noKey = writeVariant('nokey.yaml', (t) => t.replace('    conditioning_key: crossattn\n', ''));
    assert.throws(() => loadLdmConfig(noKey), /needs conditioning_key/);
    const autoencoder = path.join(dir, 'ae.yaml');
    fs.writeFileSync(autoencoder, 'model:\n  target: ldm.models.autoencoder.AutoencoderKL\n  params: {}\n');
    assert.throws(() => loadLdmConfig(autoencoder), /first-stage autoencoder config: use it with train-autoencoder/);
    assert.throws(() => resolveLdmConfig('cpu/nope'), /neither a file nor an LDM preset/);
  });
});
