// A text-conditional LDM end to end on captioned PNG files: the tokenizer learned from the
// captions when the run starts, condition dropout to the empty caption, the checkpoint carrying
// the tokenizer, exact resume, and prompts (with negative prompts) steering generation.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { SafetensorsFile } from '../../src/io/safetensors.js';
import { loadLdmWeights } from '../../src/models/ldm/checkpoint.js';
import { generate } from '../../src/pipelines/generate.js';
import { setNumThreads } from '../../src/tensor/device.js';
import { ldmWeightsFile } from '../../src/train/ldm-checkpoint.js';
import { resumeLdmTrainer } from '../../src/train/ldm-setup.js';
import {
  makeTinyAutoencoder,
  tinyTrainer,
  writeCaptionedFolder,
  writeTinyLdmConfig,
  type TinyTrainerOptions,
} from './ldm-tiny-setup.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-text-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
setNumThreads(1);

let autoencoder = '';
const data = `folder:${writeCaptionedFolder(path.join(dir, 'captioned'))}`;
const configFile = writeTinyLdmConfig(dir, 'tiny-text.yaml', { text: true });

before(async () => {
  autoencoder = await makeTinyAutoencoder(dir);
});

function create(out: string, steps: number, extra: Partial<TinyTrainerOptions> = {}) {
  return tinyTrainer({ config: configFile, autoencoder, data, outDir: path.join(dir, out), steps, ...extra });
}

describe('text-conditional LdmTrainer', () => {
  test('learns a tokenizer from the captions and stores it with the weights', async () => {
    const trainer = create('text', 3, { sampleEvery: 3 });
    const tokenizer = trainer.ldm.textEncoder?.tokenizer;
    assert.ok(tokenizer);
    const ids = tokenizer.encode('a red circle', 8);
    assert.equal(ids.length, 8);
    assert.ok(!ids.slice(1, 4).includes(tokenizer.encode('zzzz', 8)[1]), 'known words are not [UNK]');
    await trainer.run();
    const file = ldmWeightsFile(path.join(dir, 'text'));
    const reader = SafetensorsFile.open(file);
    const stored = reader.metadata.tokenizer;
    reader.close();
    assert.ok(stored !== undefined);
    const { ldm } = loadLdmWeights(file);
    assert.deepEqual(ldm.textEncoder?.tokenizer?.encode('a blue square', 8), tokenizer.encode('a blue square', 8));
    assert.ok(fs.existsSync(path.join(dir, 'text', 'samples', 'step-000003.png')));
  });

  test('generates from prompts deterministically; prompts and negative prompts change the images', () => {
    const { ldm } = loadLdmWeights(ldmWeightsFile(path.join(dir, 'text')));
    const options = { n: 2, steps: 3, guidance: 3, seed: 4 };
    const red = generate(ldm, { ...options, prompts: 'a red circle' });
    assert.deepEqual(red.shape, [2, 3, 16, 16]);
    assert.deepEqual(generate(ldm, { ...options, prompts: 'a red circle' }).data, red.data);
    assert.notDeepEqual(generate(ldm, { ...options, prompts: 'a blue square' }).data, red.data);
    assert.notDeepEqual(generate(ldm, { ...options, prompts: 'a red circle', negativePrompts: 'blue' }).data, red.data);
    assert.throws(() => generate(ldm, { ...options, labels: 0 }), /text-conditional; give prompts/);
    assert.throws(() => generate(ldm, { ...options, prompts: ['one'] }), /1 prompts for 2 images/);
  });

  test('resumes bit for bit, the tokenizer coming back from the checkpoint', async () => {
    const straight = create('text-straight', 4, { checkpointEvery: 2 });
    await straight.run();
    const interrupted = create('text-resumed', 2, { checkpointEvery: 2 });
    await interrupted.run();
    const resumed = resumeLdmTrainer(path.join(dir, 'text-resumed'), { steps: 4 });
    await resumed.run();
    assert.deepEqual(resumed.ldm.stateDict(), straight.ldm.stateDict());
  });

  test('refuses data without captions', () => {
    const flat = path.join(dir, 'uncaptioned');
    fs.mkdirSync(flat);
    for (const name of fs.readdirSync(path.join(dir, 'captioned', 'round')).filter((f) => f.endsWith('.png')))
      fs.copyFileSync(path.join(dir, 'captioned', 'round', name), path.join(flat, name));
    assert.throws(
      () => create('no-captions', 1, { data: `folder:${flat}` }),
      /text-conditional, but .* has no captions/,
    );
  });
});
