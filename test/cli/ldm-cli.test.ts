// `ldm train`, `ldm sample`, `ldm generate` and `ldm eval` as a user runs them: child processes,
// real PNG files in, checkpoints and PNGs with their settings in text chunks out.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { decodeImage } from '../../src/io/image.js';
import {
  makeTinyAutoencoder,
  writeCaptionedFolder,
  writeClassFolder,
  writeTinyLdmConfig,
} from '../train/ldm-tiny-setup.js';
import { ldmRunner, png } from './run-ldm.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-cli2-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ldm = ldmRunner(dir);

const data = `folder:${writeClassFolder(path.join(dir, 'shapes'))}`;
const config = writeTinyLdmConfig(dir, 'tiny-ldm.yaml');
const run = path.join(dir, 'ldm-run');
let autoencoder = '';

before(async () => {
  autoencoder = await makeTinyAutoencoder(dir);
});

describe('ldm train / sample / generate / eval', () => {
  test('train runs end to end on a folder of class subfolders and resumes', async () => {
    const args = ['--config', config, '--autoencoder', autoencoder, '--data', data, '--out', run];
    const trained = await ldm([
      'train',
      ...args,
      '--steps',
      '3',
      '--threads',
      '1',
      '--sample-steps',
      '2',
      '--log-every',
      '1',
    ]);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stdout, /training the U-Net \([\d,]+ parameters\) on latents 2 x 8 x 8/);
    assert.match(trained.stdout, /done at step 3/);
    for (const file of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors', 'trainer.json']) {
      assert.ok(fs.existsSync(path.join(run, 'checkpoints', 'step-000003', file)), file);
    }
    // One row of 8 per class.
    assert.deepEqual(png(path.join(run, 'samples', 'step-000003.png')).shape, [3, 2 * 18 + 2, 8 * 18 + 2]);
    const resumed = await ldm(['train', '--resume', run, '--steps', '4', '--threads', '1']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming .* at step 3 of 4/);
    const refused = await ldm(['train', '--resume', run, '--lr', '1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--lr cannot be combined with --resume/);
  });

  test('sample writes a grid with its settings in the PNG text chunks, or one file per image', async () => {
    const args = ['sample', '--model', run, '--n', '4', '--class', '1', '--steps', '3', '--seed', '9'];
    const grid = await ldm([...args, '-o', 'grid.png']);
    assert.equal(grid.code, 0, grid.stderr);
    const { shape, text } = png(path.join(dir, 'grid.png'));
    assert.deepEqual(shape, [3, 18 + 2, 4 * 18 + 2]);
    assert.equal(text.sampler, 'ddim');
    assert.equal(text.steps, '3');
    assert.equal(text.seed, '9');
    assert.equal(text.class, '1');
    assert.equal(text.guidance, '3');
    assert.match(text.model, /ema\.safetensors$/);
    const again = await ldm([...args, '-o', 'grid2.png']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      decodeImage(fs.readFileSync(path.join(dir, 'grid2.png'))).data,
      decodeImage(fs.readFileSync(path.join(dir, 'grid.png'))).data,
    );
    const separate = await ldm([
      'sample',
      '--model',
      run,
      '--n',
      '2',
      '--sampler',
      'dpm++2m',
      '--steps',
      '3',
      '--separate',
      '-o',
      'one.png',
    ]);
    assert.equal(separate.code, 0, separate.stderr);
    assert.equal(png(path.join(dir, 'one-0001.png')).text.class, '1');
    assert.deepEqual(png(path.join(dir, 'one-0000.png')).shape, [3, 16, 16]);
  });

  test('generate takes --model like sample; bad requests fail with one line', async () => {
    const made = await ldm([
      'generate',
      '--model',
      run,
      '--class',
      '0',
      '--sampler',
      'plms',
      '--steps',
      '3',
      '-o',
      'zero.png',
    ]);
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(png(path.join(dir, 'zero.png')).shape, [3, 16, 16]);
    const outOfRange = await ldm(['generate', '--model', run, '--class', '5', '-o', 'x.png']);
    assert.equal(outOfRange.code, 1);
    assert.match(outOfRange.stderr, /^ldm: error: .*--class 5 is out of range; the model knows classes 0\.\.1\n$/);
  });

  test('export writes one float16 weights file that samples like the checkpoint', async () => {
    const exported = await ldm(['export', '--model', run, '-o', 'model-f16.safetensors', '--dtype', 'f16']);
    assert.equal(exported.code, 0, exported.stderr);
    const f32 = fs.statSync(path.join(run, 'checkpoints', 'step-000004', 'ema.safetensors')).size;
    const f16 = fs.statSync(path.join(dir, 'model-f16.safetensors')).size;
    assert.ok(f16 < 0.55 * f32, `${f16} vs ${f32} bytes`);
    const made = await ldm(['sample', '--model', 'model-f16.safetensors', '--n', '2', '--steps', '2', '-o', 'f16.png']);
    assert.equal(made.code, 0, made.stderr);
    // One row per class, one image each.
    assert.deepEqual(png(path.join(dir, 'f16.png')).shape, [3, 2 * 18 + 2, 18 + 2]);
  });

  test('eval trains a classifier once and prints accuracy and Frechet distance per sampler', async () => {
    const classifier = path.join(dir, 'classifier.safetensors');
    const args = ['eval', '--model', run, '--data', data, '--classifier', classifier, '--classifier-steps', '5'];
    const rest = ['--samplers', 'ddim:2,dpm++2m:2', '--per-class', '1', '--reference', '4', '--json', 'eval.json'];
    const first = await ldm([...args, ...rest]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /trained now/);
    assert.match(first.stdout, /\| held-out real images \| 2 \|/);
    assert.match(first.stdout, /\| ddim 2 \| 2 \| \d+\.\d% \| \d+\.\d% \| \d+\.\d+ \|/);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8')) as { rows: { name: string }[] };
    assert.deepEqual(
      report.rows.map((r) => r.name),
      ['held-out real images', 'ddim 2', 'dpm++2m 2'],
    );
    const second = await ldm([...args, ...rest]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /cached/);
  });

  test('a text model trains on captioned files; sample and generate take prompts and negative prompts', async () => {
    const textRun = path.join(dir, 'text-run');
    const captioned = `folder:${writeCaptionedFolder(path.join(dir, 'captioned'))}`;
    const textConfig = writeTinyLdmConfig(dir, 'tiny-text.yaml', { text: true });
    const trained = await ldm([
      'train',
      ...['--config', textConfig, '--autoencoder', autoencoder, '--data', captioned, '--out', textRun],
      ...['--steps', '2', '--threads', '1', '--sample-steps', '2', '--captions', 'combine'],
      ...['--sample-prompts', 'a red circle; blue'],
    ]);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stderr + trained.stdout, /tokenizer: \d+ WordPiece tokens learned from the captions/);
    const preview = png(path.join(textRun, 'samples', 'step-000002.png'));
    assert.deepEqual(preview.shape, [3, 2 * 18 + 2, 8 * 18 + 2]);
    assert.equal(preview.text.prompts, JSON.stringify(['a red circle', 'blue']));
    const sampled = await ldm([
      'sample',
      ...['--model', textRun, '--prompt', 'a red circle', '--negative-prompt', 'blue', '--n', '2', '--steps', '2'],
      ...['-o', 'red.png'],
    ]);
    assert.equal(sampled.code, 0, sampled.stderr);
    const { shape, text } = png(path.join(dir, 'red.png'));
    assert.deepEqual(shape, [3, 18 + 2, 2 * 18 + 2]);
    assert.equal(text.prompt, 'a red circle');
    assert.equal(text['negative prompt'], 'blue');
    const generated = await ldm(['generate', 'a blue square', '--model', textRun, '--steps', '2', '-o', 'blue.png']);
    assert.equal(generated.code, 0, generated.stderr);
    assert.equal(png(path.join(dir, 'blue.png')).text.prompt, 'a blue square');
    const rows = await ldm([
      'sample',
      ...[
        '--model',
        textRun,
        '--prompts',
        'a red circle; a blue square;',
        '--n',
        '3',
        '--steps',
        '2',
        '-o',
        'rows.png',
      ],
    ]);
    assert.equal(rows.code, 0, rows.stderr);
    const grid = png(path.join(dir, 'rows.png'));
    assert.deepEqual(grid.shape, [3, 2 * 18 + 2, 3 * 18 + 2]);
    assert.equal(grid.text.prompts, JSON.stringify(['a red circle', 'a blue square']));
    const noPrompt = await ldm(['sample', '--model', textRun, '--steps', '2', '-o', 'x.png']);
    assert.equal(noPrompt.code, 1);
    assert.match(noPrompt.stderr, /is a text-to-image model; give a prompt/);
    const wrongModel = await ldm(['sample', '--model', run, '--prompt', 'a cat', '-o', 'x.png']);
    assert.equal(wrongModel.code, 1);
    assert.match(wrongModel.stderr, /is class-conditional \(use --class\); it takes no prompt/);
  });

  test('generate without --model uses the bundled models: MNIST for a class, emoji for a prompt', async () => {
    const digit = await ldm(['generate', '--class', '7', '--steps', '2', '--threads', '1', '-o', 'bundled-7.png']);
    assert.equal(digit.code, 0, digit.stderr);
    const seven = png(path.join(dir, 'bundled-7.png'));
    assert.deepEqual(seven.shape.slice(1), [32, 32]);
    assert.match(seven.text.model, /weights\/mnist-class-f4\.safetensors$/);
    const heart = await ldm(['generate', 'blue heart', '--steps', '2', '--threads', '1', '-o', 'bundled-heart.png']);
    assert.equal(heart.code, 0, heart.stderr);
    const image = png(path.join(dir, 'bundled-heart.png'));
    assert.deepEqual(image.shape, [3, 32, 32]);
    assert.match(image.text.model, /weights\/emoji-text-f4\.safetensors$/);
    assert.equal(image.text.prompt, 'blue heart');
  });
});
