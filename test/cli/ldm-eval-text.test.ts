// `ldm eval` on a text-to-image model as a user runs it: a child process on a tiny text LDM
// (trained here for two steps on a captioned folder), the table and JSON rows, and the refusals.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { loadLdmConfig } from '../../src/models/ldm/config.js';
import { setNumThreads } from '../../src/tensor/device.js';
import { createLdmTrainer } from '../../src/train/ldm-setup.js';
import {
  makeTinyAutoencoder,
  writeCaptionedFolder,
  writeClassFolder,
  writeTinyLdmConfig,
} from '../train/ldm-tiny-setup.js';
import { ldmRunner } from './run-ldm.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-eval-text-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
setNumThreads(1);

const captioned = `folder:${writeCaptionedFolder(path.join(dir, 'captioned'))}`;
const textRun = path.join(dir, 'text-run');
const classRun = path.join(dir, 'class-run');

const run = ldmRunner(dir);
const ldm = (args: string[]) => run([...args, '--threads', '1']);

before(async () => {
  const autoencoder = await makeTinyAutoencoder(dir);
  for (const [outDir, options] of [
    [textRun, { text: true }],
    [classRun, {}],
  ] as const) {
    const config = loadLdmConfig(writeTinyLdmConfig(dir, `${path.basename(outDir)}.yaml`, options));
    const common = {
      autoencoder,
      data: captioned,
      steps: 2,
      checkpointEvery: 0,
      sampleEvery: 0,
      preview: { steps: 1 },
    };
    await createLdmTrainer({ config, outDir, ...common }).run();
  }
});

const CLASSIFIER = ['--classifier', 'classifier.safetensors', '--classifier-steps', '3'];

describe('ldm eval on a text-to-image model', () => {
  test('prints the real, sampler and empty-prompt rows, and writes them as JSON', async () => {
    const args = ['--samplers', 'ddim:2', '--per-prompt', '2', '--reference', '6', '--json', 'eval.json'];
    const result = await ldm(['eval', '--model', textRun, '--data', captioned, ...CLASSIFIER, ...args]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /trained now/);
    assert.match(result.stdout, /guidance 3\n/);
    assert.match(result.stdout, /\| held-out real images \| 2 \| \d+\.\d% \| \d+\.\d% \| \d+\.\d+ \|/);
    assert.match(result.stdout, /\| ddim 2 \| 4 \| \d+\.\d% \| \d+\.\d% \| \d+\.\d+ \|/);
    assert.match(result.stdout, /\| empty prompt \(ddim 2\) \| 4 \| \d+\.\d% \| \d+\.\d% \| \d+\.\d+ \|/);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8')) as {
      guidance: number;
      rows: { name: string; images: number; accuracy: number; frechet: number; seconds: number }[];
    };
    assert.equal(report.guidance, 3);
    assert.deepEqual(
      report.rows.map((row) => [row.name, row.images]),
      [
        ['held-out real images', 2],
        ['ddim 2', 4],
        ['empty prompt (ddim 2)', 4],
      ],
    );
  });

  test('the help says what the rows mean', async () => {
    const help = await ldm(['eval', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--per-prompt/);
    assert.match(help.stdout, /"empty prompt"/);
  });

  test('refuses the other kind of model and data without captions', async () => {
    const perClass = await ldm(['eval', '--model', textRun, '--data', captioned, '--per-class', '1']);
    assert.equal(perClass.code, 1);
    assert.match(perClass.stderr, /is a text-to-image model; give --per-prompt, not --per-class/);
    const classModel = await ldm(['eval', '--model', classRun, '--data', captioned, '--prompts', '2']);
    assert.equal(classModel.code, 1);
    assert.match(classModel.stderr, /--prompts is for text-to-image models; .* is not one/);
    const tooMany = await ldm(['eval', '--model', textRun, '--data', captioned, '--prompts', '3']);
    assert.equal(tooMany.code, 1);
    assert.match(tooMany.stderr, /--prompts 3, but folder:.*\/test holds 2/);
    const plain = `folder:${writeClassFolder(path.join(dir, 'plain'))}`;
    const uncaptioned = await ldm(['eval', '--model', textRun, '--data', plain, ...CLASSIFIER]);
    assert.equal(uncaptioned.code, 1);
    assert.match(uncaptioned.stderr, /is a text-to-image model, but folder:.*\/test has no captions/);
    assert.doesNotMatch(uncaptioned.stdout, /classifier/, 'refused before training a classifier');
  });
});
