// The six configs of the compute comparison (docs/compute-claim.md): each loads with our reader
// and builds a model whose first stage maps 32 px images to the stated latent shape and whose
// U-Net keeps that shape; the three rows of a dataset are one U-Net family, and the pixel row's
// attention sits on the same map sizes as the f = 4 row's.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { autoencoderFromConfig } from '../../src/models/autoencoder/checkpoint.js';
import { loadAutoencoderConfig } from '../../src/models/autoencoder/config.js';
import { autoencoderPresetPath } from '../../src/models/autoencoder/presets.js';
import { ldmFromConfig } from '../../src/models/ldm/checkpoint.js';
import type { LdmTrainingConfig } from '../../src/models/ldm/config.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Generator } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { resolveLdmConfig } from '../../src/train/ldm-config.js';

interface Row {
  name: string;
  /** Image channels (the data's). */
  channels: number;
  /** The first-stage preset whose trained run `ldm train --autoencoder` takes; null: pixel space. */
  autoencoder: string | null;
  latent: [number, number, number];
  modelChannels: number;
}

const ROWS: Row[] = [
  { name: 'mnist-f1', channels: 1, autoencoder: null, latent: [1, 32, 32], modelChannels: 32 },
  { name: 'mnist-f4', channels: 1, autoencoder: 'cpu/kl-f4-32px-1ch', latent: [3, 8, 8], modelChannels: 32 },
  { name: 'mnist-f8', channels: 1, autoencoder: 'cpu/kl-f8-32px-1ch', latent: [4, 4, 4], modelChannels: 32 },
  { name: 'emoji-f1', channels: 3, autoencoder: null, latent: [3, 32, 32], modelChannels: 64 },
  { name: 'emoji-f4', channels: 3, autoencoder: 'cpu/kl-f4-32px-3ch', latent: [3, 8, 8], modelChannels: 64 },
  { name: 'emoji-f8', channels: 3, autoencoder: 'cpu/kl-f8-32px-3ch', latent: [4, 4, 4], modelChannels: 64 },
];

const CLASSES = 10;
const IMAGE_SIZE = 32;

function load(row: Row): LdmTrainingConfig {
  return resolveLdmConfig(`cpu/compute/${row.name}`);
}

function unetParams(config: LdmTrainingConfig): Record<string, unknown> {
  return config.model.unet.params as Record<string, unknown>;
}

/** Sides of the feature maps that carry attention: latent side / ds for each ds in attention_resolutions. */
function attentionMapSizes(config: LdmTrainingConfig): number[] {
  const resolutions = unetParams(config).attention_resolutions as number[];
  return resolutions.map((ds) => config.model.params.image_size / ds).sort((a, b) => a - b);
}

describe('compute comparison configs', () => {
  for (const row of ROWS) {
    test(`${row.name}: latents ${row.latent.join(' x ')}, model_channels ${row.modelChannels}`, (t) => {
      const config = load(row);
      const { params } = config.model;
      assert.equal(config.batch_size, 64);
      assert.deepEqual([params.beta_schedule, params.linear_start, params.linear_end], ['linear', 0.0015, 0.0195]);
      assert.equal(params.scale_by_std, row.autoencoder !== null);
      if (row.autoencoder === null) assert.equal(params.scale_factor, 1);
      assert.equal(config.model.condStage.kind, 'class');
      if (config.model.condStage.kind === 'class') {
        assert.equal(config.model.condStage.params.n_classes, CLASSES + 1);
        assert.equal(config.model.condStage.params.ucg_rate, 0.1);
      }

      const generator = new Generator(0);
      const firstStage =
        row.autoencoder === null
          ? undefined
          : autoencoderFromConfig(loadAutoencoderConfig(autoencoderPresetPath(row.autoencoder)).model, generator);
      const ldm = ldmFromConfig(config.model, firstStage, generator);
      assert.deepEqual(ldm.latentShape, row.latent);
      assert.equal(ldm.imageSize, IMAGE_SIZE);
      assert.equal(ldm.imageChannels, row.channels);
      assert.equal(ldm.numClasses, CLASSES);
      assert.equal(ldm.nullClass, CLASSES);

      noGrad(() => {
        const images = Tensor.rand([2, row.channels, IMAGE_SIZE, IMAGE_SIZE], generator, -1, 1);
        const z = ldm.encodeFirstStage(images, generator);
        assert.deepEqual(z.shape, [2, ...row.latent]);
        const eps = ldm.applyModel(z, Tensor.from([10, 900], [2]), ldm.conditioning({ labels: [3, CLASSES] }));
        assert.deepEqual(eps.shape, z.shape);
        assert.ok(eps.data.every(Number.isFinite));
      });
      t.diagnostic(`${row.name}: U-Net parameters ${ldm.model.numParameters().toLocaleString('en-US')}`);
    });
  }

  test('the rows of a dataset share one U-Net family; f = 1 attends on the f = 4 map sizes', () => {
    for (const data of ['mnist', 'emoji']) {
      const [f1, f4, f8] = ['f1', 'f4', 'f8'].map((f) => load(ROWS.find((row) => row.name === `${data}-${f}`)!));
      const family = (config: LdmTrainingConfig): unknown[] => {
        const unet = unetParams(config);
        return [unet.model_channels, unet.num_res_blocks, unet.num_head_channels, unet.context_dim];
      };
      assert.deepEqual(family(f1), family(f4), data);
      assert.deepEqual(family(f8), family(f4), data);
      assert.deepEqual(unetParams(f1).channel_mult, [1, 2, 2, 2], data);
      assert.deepEqual(attentionMapSizes(f1), [4, 8], data);
      assert.deepEqual(attentionMapSizes(f4), [4, 8], data);
      assert.deepEqual(attentionMapSizes(f8), [2, 4], data);
    }
  });
});
