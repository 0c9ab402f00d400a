// The discriminator, the KL and VQ first-stage losses (both phases) and LPIPS against PyTorch:
// test/fixtures/losses_parity.safetensors, written by scripts/make_losses_fixture.py. Each loss
// case runs a tiny "decoder" (a 1x1 conv whose weight is the last layer), so the adaptive weight
// is a real gradient-norm ratio.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SafetensorsFile, readSafetensors, writeSafetensors, type TensorRecord } from '../../src/io/safetensors.js';
import {
  LPIPS,
  LPIPSWithDiscriminator,
  NLayerDiscriminator,
  VQLPIPSWithDiscriminator,
  lossFromConfig,
  type LossConfig,
} from '../../src/models/losses/index.js';
import { grad } from '../../src/tensor/autograd.js';
import * as F from '../../src/tensor/functional.js';
import { Tensor } from '../../src/tensor/tensor.js';
import {
  LOSSES_FIXTURE,
  assertNumberClose,
  assertRelativeClose,
  assertScalarClose,
  lpipsTestWeights,
} from './losses-helpers.js';

const stored = readSafetensors(LOSSES_FIXTURE);
const metadata = (() => {
  const file = SafetensorsFile.open(LOSSES_FIXTURE);
  file.close();
  return file.metadata;
})();

function tensor(name: string): Tensor {
  const record = stored.get(name);
  if (record === undefined) throw new Error(`fixture has no tensor "${name}"`);
  return new Tensor(record.data.slice(), record.shape);
}

/** Stored tensors under `prefix.`, with the prefix removed. */
function withPrefix(prefix: string): Map<string, TensorRecord> {
  const out = new Map<string, TensorRecord>();
  for (const [key, value] of stored) if (key.startsWith(`${prefix}.`)) out.set(key.slice(prefix.length + 1), value);
  return out;
}

const DISC_NDF = 4;

describe('NLayerDiscriminator against PyTorch', () => {
  test('state-dict keys match the original; logits in train and eval mode; running statistics', () => {
    const d = new NLayerDiscriminator({ ndf: DISC_NDF });
    d.loadStateDict(withPrefix('disc.init')); // strict: every key and shape must match
    assertRelativeClose('logits (train)', d.forward(tensor('disc.x')), tensor('disc.logits'));
    for (const [key, value] of withPrefix('disc.running')) {
      assertRelativeClose(key, d.stateDict().get(key) as Tensor, value);
    }
    d.eval();
    assertRelativeClose('logits (eval)', d.forward(tensor('disc.x')), tensor('disc.logits_eval'));
  });
});

interface CaseMeta extends LossConfig {
  params: Record<string, unknown>;
  global_step: number;
  generator_log: Record<string, number>;
  discriminator_log: Record<string, number>;
  grads: string[];
}

function checkCase(name: string): void {
  const meta = JSON.parse(metadata[name]) as CaseMeta;
  const loss = lossFromConfig(meta);
  assert.ok(loss !== null);
  loss.discriminator.loadStateDict(withPrefix('disc.init'));
  const leaves: Record<string, Tensor> = {};
  for (const role of meta.grads) {
    leaves[role] =
      role === 'logvar' ? (loss as LPIPSWithDiscriminator).logvar : tensor(`${name}.${role}`).requireGrad();
  }
  const inputs = tensor(`${name}.x`);
  const reconstructions = F.conv2d(tensor(`${name}.h`), leaves.W, leaves.b);
  const common = { inputs, reconstructions, globalStep: meta.global_step, lastLayer: leaves.W };

  let generator: { loss: Tensor; log: object };
  if (loss instanceof LPIPSWithDiscriminator) {
    assertScalarClose('logvar init', loss.logvar, tensor(`${name}.logvar`).item());
    const { post_mean: mu, post_logvar: lv } = leaves;
    const kl = F.sum(F.sub(F.sub(F.add(F.mul(mu, mu), F.exp(lv)), 1), lv), [1, 2, 3]).mul(0.5);
    const weights = stored.has(`${name}.weights`) ? tensor(`${name}.weights`) : undefined;
    generator = loss.generatorLoss({ ...common, kl, weights });
  } else {
    assert.ok(loss instanceof VQLPIPSWithDiscriminator);
    generator = loss.generatorLoss({ ...common, codebookLoss: F.mean(F.mul(leaves.q, leaves.q)) });
  }
  assertScalarClose('generator loss', generator.loss, tensor(`${name}.g.loss`).item());
  const log = generator.log as Record<string, number>;
  assert.deepEqual(Object.keys(log).sort(), Object.keys(meta.generator_log).sort());
  for (const [key, value] of Object.entries(meta.generator_log)) assertNumberClose(`log ${key}`, log[key], value);
  const grads = grad(
    generator.loss,
    meta.grads.map((role) => leaves[role]),
  );
  meta.grads.forEach((role, i) => assertRelativeClose(`grad ${role}`, grads[i], tensor(`${name}.g.grad_${role}`)));

  const disc = loss.discriminatorLoss({ inputs, reconstructions, globalStep: meta.global_step });
  assertScalarClose('discriminator loss', disc.loss, tensor(`${name}.d.loss`).item());
  for (const [key, value] of Object.entries(meta.discriminator_log)) {
    assertNumberClose(`log ${key}`, (disc.log as unknown as Record<string, number>)[key], value);
  }
  const named = loss.discriminator.namedParameters();
  const dGrads = grad(
    disc.loss,
    named.map(([, p]) => p),
  );
  named.forEach(([key], i) => assertRelativeClose(`grad ${key}`, dGrads[i], tensor(`${name}.d.grad.${key}`)));
  for (const [key, value] of withPrefix(`${name}.running`)) {
    assertRelativeClose(key, loss.discriminator.stateDict().get(key) as Tensor, value);
  }
}

describe('first-stage losses against PyTorch (both optimizer phases)', () => {
  test('KL loss: hinge, SSIM perceptual term', () => checkCase('kl_ssim_hinge'));
  test('KL loss: vanilla GAN, L2 pixels, per-pixel weights, disc_factor 0.7', () => checkCase('kl_l2_vanilla'));
  test('VQ loss: hinge, SSIM perceptual term, codebook weight', () => checkCase('vq_ssim_hinge'));
});

describe('LPIPS against PyTorch (deterministic test weights)', () => {
  let dir = '';
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-lpips-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('distance and its gradient with respect to the reconstruction', () => {
    const file = path.join(dir, 'lpips.safetensors');
    writeSafetensors(file, lpipsTestWeights());
    const lpips = LPIPS.fromFile(file);
    const y = tensor('lpips.y').requireGrad();
    const out = lpips.forward(tensor('lpips.x'), y);
    assertRelativeClose('lpips', out, tensor('lpips.out'));
    const [gy] = grad(F.sum(out), [y]);
    assertRelativeClose('grad y', gy, tensor('lpips.grad_y'));
  });
});
