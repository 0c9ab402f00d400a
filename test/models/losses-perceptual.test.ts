// The perceptual terms: SSIM (the default) and the LPIPS weight loader.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { writeSafetensors, type TensorRecord } from '../../src/io/safetensors.js';
import { LPIPS, SSIMLoss, createPerceptualLoss } from '../../src/models/losses/index.js';
import * as F from '../../src/tensor/functional.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { lpipsTestWeights } from './losses-helpers.js';

/** A k x k box blur per channel, edges replicated by zero padding's complement (normalised counts). */
function boxBlur(x: Tensor, k: number): Tensor {
  const [n, c, h, w] = x.shape;
  const planes = x.reshape([n * c, 1, h, w]);
  const kernel = Tensor.full([1, 1, k, k], 1);
  const pad = (k - 1) / 2;
  const sums = F.conv2d(planes, kernel, null, { padding: pad });
  const counts = F.conv2d(Tensor.ones([1, 1, h, w]), kernel, null, { padding: pad });
  return F.div(sums, counts).reshape([n, c, h, w]);
}

describe('SSIMLoss (the default perceptual term)', () => {
  const image = boxBlur(Tensor.rand([2, 3, 32, 32], new Generator(1), -1, 1), 3); // some texture
  test('0 for identical images, per sample [N, 1, 1, 1]', () => {
    const loss = new SSIMLoss().forward(image, image);
    assert.deepEqual(loss.shape, [2, 1, 1, 1]);
    assert.ok(
      loss.data.every((v) => Math.abs(v) < 1e-6),
      `${[...loss.data]}`,
    );
  });

  test('grows with blur, and its gradient points back towards the sharp image', () => {
    const ssim = new SSIMLoss();
    const values = [3, 5, 9].map((k) => F.mean(ssim.forward(image, boxBlur(image, k))).item());
    assert.ok(values[0] > 0.01 && values[0] < values[1] && values[1] < values[2], `${values}`);
    const blurred = boxBlur(image, 5).detach().requireGrad();
    const loss = F.mean(ssim.forward(image, blurred));
    loss.backward();
    const step = F.sub(blurred.detach(), F.mul(blurred.grad as Tensor, 0.5));
    assert.ok(F.mean(ssim.forward(image, step)).item() < loss.item());
  });

  test('images smaller than the window use a smaller window', () => {
    const small = Tensor.rand([1, 1, 6, 8], new Generator(2), -1, 1);
    assert.ok(Math.abs(new SSIMLoss().forward(small, small).item()) < 1e-6);
    assert.ok(new SSIMLoss().forward(small, F.mul(small, 0.5)).item() > 0);
  });
});

describe('LPIPS weights loader', () => {
  let dir = '';
  let torchvisionFile = '';
  const weights = lpipsTestWeights();
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-lpips-'));
    torchvisionFile = path.join(dir, 'torchvision.safetensors');
    writeSafetensors(torchvisionFile, weights);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('torchvision + lin keys load; the weights are frozen; identical images give 0', () => {
    const lpips = LPIPS.fromFile(torchvisionFile);
    assert.deepEqual(
      [...lpips.stateDict().get('net.slice3.12.weight')!.data.subarray(0, 4)],
      [...weights.get('features.12.weight')!.data.subarray(0, 4)],
    );
    assert.ok(lpips.parameters().every((p) => !p.requiresGrad));
    const x = Tensor.rand([1, 3, 16, 16], new Generator(3), -1, 1);
    assert.equal(lpips.forward(x, x).item(), 0);
    const viaSwitch = createPerceptualLoss({ name: 'lpips', weightsPath: torchvisionFile });
    assert.ok(viaSwitch instanceof LPIPS);
  });

  test('a CompVis checkpoint block (loss.perceptual_loss.*, LPIPS names) loads, other keys ignored', () => {
    const fresh = new LPIPS();
    const reference = LPIPS.fromFile(torchvisionFile);
    const checkpoint = new Map<string, TensorRecord>([
      ['encoder.conv_in.weight', { shape: [1], data: new Float32Array(1) }],
    ]);
    for (const [key, value] of reference.stateDict()) checkpoint.set(`loss.perceptual_loss.${key}`, value);
    const file = path.join(dir, 'checkpoint.safetensors');
    writeSafetensors(file, checkpoint);
    fresh.loadWeights(file);
    assert.deepEqual(
      [...fresh.stateDict().get('lin4.model.1.weight')!.data],
      [...reference.stateDict().get('lin4.model.1.weight')!.data],
    );
  });

  test('a wrong file is rejected with the missing, unexpected and mis-shaped keys', () => {
    const file = path.join(dir, 'wrong.safetensors');
    writeSafetensors(file, {
      'features.0.weight': { shape: [64, 3, 5, 5], data: new Float32Array(64 * 3 * 25) },
      'conv_in.weight': { shape: [2], data: new Float32Array(2) },
    });
    const error = (() => {
      try {
        LPIPS.fromFile(file);
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    assert.match(error, /wrong\.safetensors" do not fit the VGG16 LPIPS network/);
    assert.match(error, /missing keys \(30\):.*lin4\.model\.1\.weight/);
    assert.match(error, /unexpected keys \(1\): conv_in\.weight/);
    assert.match(error, /net\.slice1\.0\.weight: checkpoint \[64, 3, 5, 5\], model \[64, 3, 3, 3\]/);
    assert.throws(() => LPIPS.fromFile(path.join(dir, 'absent.safetensors')), /ENOENT/);
  });
});
