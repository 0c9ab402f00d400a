// The `ldm` command as a user runs it: a child process, real PNG files in, checkpoints, logs and
// PNGs out; Ctrl-C (SIGINT) saves a checkpoint that resumes; mistakes print one line, exit 1.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { readSafetensors } from '../../src/io/safetensors.js';
import { readRunLog } from '../../src/train/run-log.js';
import { TINY_SIZE, writePngFolder, writeTinyConfig } from '../train/tiny-setup.js';
import { ldmRunner, png, type Outcome } from './run-ldm.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ldm = ldmRunner(dir);

/** Exit code 1 and exactly one line on stderr, `ldm: error: ...`, without a stack trace. */
function assertOneLineError(outcome: Outcome, pattern: RegExp): void {
  assert.equal(outcome.code, 1, outcome.stderr);
  const lines = outcome.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, outcome.stderr);
  assert.match(lines[0], /^ldm: error: /);
  assert.match(lines[0], pattern);
}

const images = writePngFolder(path.join(dir, 'images'), 20); // 18 train, 2 test (every 10th)
const config = writeTinyConfig(dir, 'tiny-rgb.yaml', { channels: 3, discStart: 2 });
const out = path.join(dir, 'run');
// One compute thread per child: see test/train/autoencoder-trainer.test.ts.
const FAST = ['--threads', '1', '--lr', '1e-3', '--log-every', '1', '--eval-samples', '4'];

describe('ldm', () => {
  test('--help lists the commands; each command has its own help', async () => {
    const help = await ldm(['--help']);
    assert.equal(help.code, 0);
    for (const name of ['train-autoencoder', 'reconstruct', 'encode', 'decode'])
      assert.match(help.stdout, new RegExp(name));
    const own = await ldm(['train-autoencoder', '--help']);
    assert.equal(own.code, 0);
    assert.match(own.stdout, /--checkpoint-every <n>/);
    assert.match((await ldm(['help', 'decode'])).stdout, /^Usage: ldm decode --model <ckpt>/);
  });

  test('train-autoencoder on a folder of PNGs writes checkpoints, log.jsonl, grids and metrics', async () => {
    const args = ['--config', config, '--data', `folder:${path.join(dir, 'images')}`, '--out', out, '--steps', '4'];
    const run = await ldm([
      'train-autoencoder',
      ...args,
      ...FAST,
      '--checkpoint-every',
      '2',
      '--sample-every',
      '2',
      '--ema',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /eval at step 4: PSNR \d+\.\d+ dB, SSIM [\d.-]+ on 2 held-out images/);
    assert.match(run.stdout, /done at step 4/);
    assert.equal(fs.readFileSync(path.join(out, 'last'), 'utf8').trim(), 'checkpoints/step-000004');
    assert.deepEqual(fs.readdirSync(path.join(out, 'checkpoints')), ['step-000002', 'step-000004']);
    assert.deepEqual(fs.readdirSync(path.join(out, 'checkpoints', 'step-000004')).sort(), [
      'ema.safetensors',
      'model.safetensors',
      'optimizers.safetensors',
      'trainer.json',
    ]);
    const log = readRunLog(path.join(out, 'log.jsonl'));
    assert.equal(log.filter((r) => r.event === 'train').length, 4);
    const evals = log.filter((r) => r.event === 'eval');
    assert.equal(evals.length, 2);
    assert.ok(evals.every((r) => Number.isFinite(r['val/psnr']) && Number.isFinite(r['val/ssim'])));
    // 2 test images: inputs above, reconstructions below, 2-pixel padding.
    const side = TINY_SIZE + 2;
    assert.deepEqual(png(path.join(out, 'samples', 'step-000004.png')).shape, [3, 2 * side + 2, 2 * side + 2]);
    assert.ok(fs.existsSync(path.join(out, 'samples', 'step-000002.png')));
  });

  test('reconstruct, encode and decode work on real files', async () => {
    const recon = await ldm(['reconstruct', '--model', out, images[0], images[1], images[2], '-o', 'recon.png']);
    assert.equal(recon.code, 0, recon.stderr);
    assert.match(recon.stdout, /EMA weights/);
    const side = TINY_SIZE + 2;
    assert.deepEqual(png(path.join(dir, 'recon.png')).shape, [3, 2 * side + 2, 3 * side + 2]);

    const encoded = await ldm([
      'encode',
      '--model',
      path.join(out, 'checkpoints', 'step-000002'),
      images[3],
      images[4],
      '-o',
      'z.safetensors',
    ]);
    assert.equal(encoded.code, 0, encoded.stderr);
    const latents = readSafetensors(path.join(dir, 'z.safetensors')).get('latents')!;
    assert.deepEqual(latents.shape, [2, 2, TINY_SIZE / 2, TINY_SIZE / 2]);

    const decoded = await ldm(['decode', '--model', out, '--weights', 'trained', 'z.safetensors', '-o', 'decoded.png']);
    assert.equal(decoded.code, 0, decoded.stderr);
    assert.deepEqual(png(path.join(dir, 'decoded.png')).shape, [3, side + 2, 2 * side + 2]);
  });

  test('Ctrl-C saves a checkpoint and exits 130; --resume continues from it', async () => {
    const run = path.join(dir, 'interrupted');
    let signalled = false;
    const args = ['--config', config, '--data', `folder:${path.join(dir, 'images')}`, '--out', run, '--steps', '1000'];
    const stopped = await ldm(['train-autoencoder', ...args, ...FAST], (stdout, child) => {
      if (!signalled && /^step +\d+\/1000/m.test(stdout)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stdout, /interrupted at step \d+; checkpoint saved/);
    const last = fs.readFileSync(path.join(run, 'last'), 'utf8').trim();
    const state = JSON.parse(fs.readFileSync(path.join(run, last, 'trainer.json'), 'utf8'));
    assert.ok(state.step >= 1 && state.step < 1000, `step ${state.step}`);
    const resumed = await ldm([
      'train-autoencoder',
      '--resume',
      run,
      '--steps',
      String(state.step + 1),
      '--threads',
      '1',
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resuming .* at step ${state.step} of ${state.step + 1}`));
    assert.match(resumed.stdout, new RegExp(`done at step ${state.step + 1}`));
  });

  test('mistakes print one line and exit 1', async () => {
    assertOneLineError(await ldm(['train-autoencoder', '--bogus']), /unknown option --bogus/);
    assertOneLineError(await ldm(['train-autoencoder', '--stpes', '3']), /did you mean --steps\?/);
    assertOneLineError(
      await ldm(['train-autoencoder', '--config', config, '--data', 'folder:/no/such/place', '--out', 'x']),
      /not a folder/,
    );
    const typo = writeTinyConfig(dir, 'typo.yaml', { extraDdconfig: '      ch_mul: [1, 2]\n' });
    assertOneLineError(
      await ldm(['train-autoencoder', '--config', typo, '--data', 'mnist', '--out', 'y']),
      /typo\.yaml.*unknown key "ch_mul" \(did you mean "ch_mult"\?\)/,
    );
    assertOneLineError(
      await ldm(['train-autoencoder', '--config', config, '--data', 'mnist', '--out', out]),
      /already holds a training run/,
    );
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not an image');
    assertOneLineError(await ldm(['reconstruct', '--model', out, 'broken.png']), /broken\.png/);
    assertOneLineError(await ldm(['reconstruct', '--model', out, 'missing.png']), /cannot read missing\.png/);
    const other = writeTinyConfig(dir, 'other.yaml', { channels: 3, chMult: [1, 2, 2] });
    const weights = path.join(out, 'checkpoints', 'step-000004', 'model.safetensors');
    assertOneLineError(
      await ldm(['decode', '--model', weights, '--config', other, 'z.safetensors']),
      /the checkpoint holds AutoencoderKL \(.*ch_mult \[1, 2\].*\), but the model is AutoencoderKL \(.*ch_mult \[1, 2, 2\]/,
    );
    assertOneLineError(await ldm(['encode', '--model', out]), /missing images/);
    assertOneLineError(await ldm(['frobnicate']), /unknown command "frobnicate"/);
  });
});
