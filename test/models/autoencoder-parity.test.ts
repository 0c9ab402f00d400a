// Parity with a PyTorch implementation of the same architecture: checkpoints written by
// scripts/make_autoencoder_fixture.py (CompVis key names, float16-exact weights, float64
// reference outputs) load with a strict loadStateDict and give the same outputs, within 1e-4
// relative (max |ours - theirs| / max |theirs|).
//
// The reverse direction: this file writes our own randomly initialised models' state dicts and
// outputs to DIR/ours_{kl,vq}.safetensors (DIR = $LDM_AUTOENCODER_OURS_DIR, else a temporary
// folder) and checks that their keys and shapes are the PyTorch model's; with the variable set,
// `python3 scripts/make_autoencoder_fixture.py --check-ours DIR` then loads them into PyTorch (strict).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import {
  AutoencoderKL,
  DDCONFIG_DEFAULTS,
  Generator,
  Tensor,
  VQModel,
  grad,
  noGrad,
  readSafetensors,
  writeSafetensors,
  type DDConfig,
  type TensorRecord,
} from '../../src/index.js';
import { ResnetBlock } from '../../src/models/autoencoder/blocks.js';
import { assertParity, readParityFixture } from './parity-helpers.js';

/** The fixture models' architecture (as in the script). */
const KL_DDCONFIG: DDConfig = {
  ...DDCONFIG_DEFAULTS,
  double_z: true,
  z_channels: 4,
  resolution: 16,
  in_channels: 3,
  out_ch: 3,
  ch: 32,
  ch_mult: [1, 1],
  num_res_blocks: 1,
  attn_resolutions: [8],
};
const VQ_DDCONFIG: DDConfig = { ...KL_DDCONFIG, double_z: false, in_channels: 1, out_ch: 1 };

function readFixture(name: string): { weights: Map<string, TensorRecord>; io: Map<string, TensorRecord> } {
  const all = readParityFixture(`autoencoder_${name}.safetensors`).tensors;
  const weights = new Map([...all].filter(([key]) => !key.startsWith('fixture.')));
  const io = new Map([...all].filter(([key]) => key.startsWith('fixture.')).map(([key, v]) => [key.slice(8), v]));
  return { weights, io };
}

function tensor(record: TensorRecord | undefined): Tensor {
  assert.ok(record !== undefined, 'fixture tensor missing');
  return new Tensor(record.data, record.shape);
}

const kl = readFixture('kl');
const vq = readFixture('vq');

function loadKL(): AutoencoderKL {
  const model = new AutoencoderKL({ ddconfig: KL_DDCONFIG, embed_dim: 4 }).eval();
  model.loadStateDict(kl.weights);
  return model;
}

/** The VQ file holds only the tensors it does not share with the KL model (see the script). */
function loadVQ(legacy = true): VQModel {
  const model = new VQModel({ ddconfig: VQ_DDCONFIG, embed_dim: 3, n_embed: 16, legacy }).eval();
  model.loadStateDict(new Map([...kl.weights, ...vq.weights]));
  return model;
}

describe('autoencoder parity with PyTorch', () => {
  test('AutoencoderKL: posterior moments, KL and decoded image', () => {
    const model = loadKL();
    noGrad(() => {
      const posterior = model.encode(tensor(kl.io.get('input')));
      assertParity(posterior.mean, tensor(kl.io.get('mean')), 'posterior mean');
      assertParity(posterior.logvar, tensor(kl.io.get('logvar')), 'posterior logvar');
      assertParity(posterior.kl(), tensor(kl.io.get('kl')), 'kl');
      assertParity(model.decode(posterior.mode()), tensor(kl.io.get('decoded')), 'decoded');
    });
  });

  test('VQModel: pre-quantisation latent, codes, indices, loss and decoded image', () => {
    const model = loadVQ();
    noGrad(() => {
      const prequant = model.encodePrequant(tensor(vq.io.get('input')));
      assertParity(prequant, tensor(vq.io.get('prequant')), 'prequant');
      const { quantized, loss, indices } = model.quantize.forward(prequant);
      assert.deepEqual(Array.from(indices.data), Array.from(tensor(vq.io.get('indices')).data), 'indices');
      assertParity(quantized, tensor(vq.io.get('quantized')), 'quantized');
      assertParity(loss, tensor(vq.io.get('loss')), 'loss');
      assertParity(model.decode(quantized), tensor(vq.io.get('decoded')), 'decoded');
      assertParity(model.decodeLatent(prequant), tensor(vq.io.get('decoded')), 'decodeLatent quantises first');
      assertParity(model.decodeCode(indices), tensor(vq.io.get('decoded')), 'decodeCode');
    });
  });

  for (const form of ['legacy', 'corrected'] as const) {
    test(`VQ commitment loss, ${form} form: gradients to the latent and to the codebook`, () => {
      const model = loadVQ(form === 'legacy');
      const z = tensor(vq.io.get('prequant')).requireGrad();
      const codebook = model.quantize.embedding.weight;
      const [gz, gCodebook] = grad(model.quantize.forward(z).loss, [z, codebook]);
      assertParity(gz, tensor(vq.io.get(`grad_z_${form}`)), `d loss / d z (${form})`);
      assertParity(gCodebook, tensor(vq.io.get(`grad_codebook_${form}`)), `d loss / d codebook (${form})`);
    });
  }

  test('VQ straight-through estimator: the decoder gradient reaches the pre-quantisation latent', () => {
    const model = loadVQ();
    const z = tensor(vq.io.get('prequant')).requireGrad();
    const out = model.decode(model.quantize.forward(z).quantized);
    const [gz] = grad(out.square().mean(), [z]);
    assertParity(gz, tensor(vq.io.get('grad_z_straight_through')), 'd mean(decode(quantize(z))^2) / dz');
  });

  test('ResnetBlock with nin_shortcut (32 -> 64 channels)', () => {
    const { weights, io } = readFixture('resblock');
    const block = new ResnetBlock(32, 64);
    block.loadStateDict(weights);
    assertParity(
      noGrad(() => block.forward(tensor(io.get('input')))),
      tensor(io.get('output')),
      'ResnetBlock output',
    );
  });

  test('our state dicts carry the PyTorch model keys and shapes, for the PyTorch side to load', () => {
    const oursDir = process.env.LDM_AUTOENCODER_OURS_DIR ?? mkdtempSync(path.join(tmpdir(), 'ldm-ae-ours-'));
    const generator = new Generator(7);
    const klModel = new AutoencoderKL({ ddconfig: KL_DDCONFIG, embed_dim: 4 }, generator).eval();
    const vqModel = new VQModel({ ddconfig: VQ_DDCONFIG, embed_dim: 3, n_embed: 16 }, generator).eval();
    // Codes spread like the latents, so that several are in use.
    vqModel.quantize.embedding.weight.copyFrom(Tensor.randn([16, 3], generator).mul(0.2));
    noGrad(() => {
      const klInput = tensor(kl.io.get('input'));
      const posterior = klModel.encode(klInput);
      writeSafetensors(
        path.join(oursDir, 'ours_kl.safetensors'),
        new Map([
          ...klModel.stateDict(),
          ['fixture.input', klInput],
          ['fixture.mean', posterior.mean],
          ['fixture.logvar', posterior.logvar],
          ['fixture.decoded', klModel.decode(posterior.mean)],
        ]),
      );
      const vqInput = tensor(vq.io.get('input'));
      const prequant = vqModel.encodePrequant(vqInput);
      const { quantized, loss, indices } = vqModel.quantize.forward(prequant);
      writeSafetensors(
        path.join(oursDir, 'ours_vq.safetensors'),
        new Map([
          ...vqModel.stateDict(),
          ['fixture.input', vqInput],
          ['fixture.prequant', prequant],
          ['fixture.quantized', quantized],
          ['fixture.loss', loss],
          ['fixture.indices', indices],
          ['fixture.decoded', vqModel.decode(quantized)],
        ]),
      );
    });
    const keysAndShapes = (file: string, fixture: Map<string, TensorRecord>) => {
      const ours = readSafetensors(path.join(oursDir, file));
      for (const [key, record] of fixture) {
        assert.deepEqual(ours.get(key)?.shape, record.shape, `${file}: ${key}`);
      }
      return [...ours.keys()].filter((key) => !key.startsWith('fixture.'));
    };
    // The KL fixture holds PyTorch's whole state dict; the VQ one only the tensors it does not share with it.
    assert.deepEqual(keysAndShapes('ours_kl.safetensors', kl.weights).sort(), [...kl.weights.keys()].sort());
    keysAndShapes('ours_vq.safetensors', vq.weights);
    if (process.env.LDM_AUTOENCODER_OURS_DIR === undefined) rmSync(oursDir, { recursive: true, force: true });
  });
});
