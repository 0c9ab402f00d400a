// Parity with a PyTorch implementation of the same architecture: test/fixtures/unet.safetensors,
// written by scripts/make_unet_fixture.py (CompVis key names, float16-exact weights, float64
// reference outputs), loads into our UNetModel with a strict loadStateDict, and the outputs and
// input gradients agree within 1e-4 relative (max |ours - theirs| / max |theirs|). The same file
// carries SpatialRescaler cases (PyTorch's F.interpolate in float32) and the key list, shapes and
// parameter count of the MNIST-latent config.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { grad, noGrad, withBackend, type TensorRecord } from '../../src/index.js';
import { SpatialRescaler, type SpatialRescalerParams } from '../../src/models/encoders/index.js';
import { UNetModel, unetConfigFromParams, type UNetConditioning } from '../../src/models/unet/index.js';
import { assertParity, readParityFixture } from './parity-helpers.js';

const { file: FIXTURE, tensors, metadata, tensor } = readParityFixture('unet.safetensors');
const order = JSON.parse(metadata.order) as string[];

function buildModel(name: string): UNetModel {
  return new UNetModel(unetConfigFromParams(JSON.parse(metadata[`config.${name}`]), `${FIXTURE} (${name})`));
}

/**
 * Config `name`'s state dict: its own `name.<key>` tensors, else those of the first earlier
 * config holding the key with the same shape (the script stores shared tensors once).
 */
function stateDictOf(name: string, model: UNetModel): Map<string, TensorRecord> {
  const earlier = order.slice(0, order.indexOf(name));
  const out = new Map<string, TensorRecord>();
  for (const [key, own] of model.stateDict()) {
    const candidates = [name, ...earlier].map((config) => tensors.get(`${config}.${key}`));
    const found = candidates.find((record) => record !== undefined && record.shape.join() === own.shape.join());
    if (found !== undefined) out.set(key, found);
  }
  return out;
}

function loadModel(name: string): UNetModel {
  const model = buildModel(name).eval();
  model.loadStateDict(stateDictOf(name, model)); // strict: every key present, none extra
  return model;
}

function conditioning(name: string): UNetConditioning {
  const cond: UNetConditioning = {};
  if (tensors.has(`${name}.fixture.context`)) cond.context = tensor(`${name}.fixture.context`);
  if (tensors.has(`${name}.fixture.y`)) cond.y = tensor(`${name}.fixture.y`);
  return cond;
}

describe('U-Net parity with PyTorch', () => {
  for (const name of order) {
    test(`${name}: our state-dict keys are PyTorch's, in its order`, () => {
      assert.deepEqual([...buildModel(name).stateDict().keys()], JSON.parse(metadata[`keys.${name}`]));
    });

    test(`${name}: output for the fixture input`, () => {
      const model = loadModel(name);
      const out = noGrad(() =>
        model.forward(tensor(`${name}.fixture.x`), tensor(`${name}.fixture.timesteps`), conditioning(name)),
      );
      assertParity(out, tensor(`${name}.fixture.output`), `${name} output`);
    });

    if (!tensors.has(`${name}.fixture.grad_x`)) continue;
    test(`${name}: gradients of sum(output * probe) with respect to the inputs`, () => {
      const model = loadModel(name);
      const x = tensor(`${name}.fixture.x`).clone().requireGrad();
      const cond = conditioning(name);
      if (cond.context !== undefined) cond.context = cond.context.clone().requireGrad();
      const out = model.forward(x, tensor(`${name}.fixture.timesteps`), cond);
      const inputs = cond.context === undefined ? [x] : [x, cond.context];
      const grads = grad(out.mul(tensor(`${name}.fixture.probe`)).sum(), inputs);
      assertParity(grads[0], tensor(`${name}.fixture.grad_x`), `${name} d loss / d x`);
      if (grads.length > 1)
        assertParity(grads[1], tensor(`${name}.fixture.grad_context`), `${name} d loss / d context`);
    });
  }

  test('cross: the js backend gives the same output', () => {
    const out = withBackend('js', () => {
      const model = loadModel('cross');
      return noGrad(() =>
        model.forward(tensor('cross.fixture.x'), tensor('cross.fixture.timesteps'), conditioning('cross')),
      );
    });
    assertParity(out, tensor('cross.fixture.output'), 'cross output (js backend)');
  });

  test('the MNIST-latent config has the PyTorch keys, shapes and parameter count', () => {
    const model = buildModel('mnist');
    const shapes = Object.fromEntries([...model.stateDict()].map(([key, t]) => [key, [...t.shape]]));
    assert.deepEqual(shapes, JSON.parse(metadata['shapes.mnist']));
    assert.deepEqual(Object.keys(shapes), Object.keys(JSON.parse(metadata['shapes.mnist'])), 'key order');
    assert.equal(model.numParameters(), Number(metadata['parameters.mnist']));
  });
});

describe('SpatialRescaler parity with torch.nn.functional.interpolate', () => {
  const cases = JSON.parse(metadata.rescalers) as Record<string, Partial<SpatialRescalerParams>>;
  for (const [name, params] of Object.entries(cases)) {
    test(`${name}: ${JSON.stringify(params)}`, () => {
      const rescaler = new SpatialRescaler(params);
      const weights = new Map(
        [...tensors].filter(([key]) => key.startsWith(`rescaler.${name}.`) && !key.endsWith('.output')),
      );
      rescaler.loadStateDict(new Map([...weights].map(([key, v]) => [key.slice(`rescaler.${name}.`.length), v])));
      const out = noGrad(() => rescaler.forward(tensor('rescaler.input')));
      assertParity(out, tensor(`rescaler.${name}.output`), `rescaler ${name}`, 1e-5);
    });
  }
});
