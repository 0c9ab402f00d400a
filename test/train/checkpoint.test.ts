// The checkpoint directory protocol: a failed or killed write never disturbs the last good
// checkpoint, the pointer names only complete checkpoints, and locations resolve as documented.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import {
  listCheckpoints,
  readLastPointer,
  resolveCheckpoint,
  writeCheckpoint,
  type CheckpointFile,
} from '../../src/train/checkpoint.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-checkpoint-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const file = (name: string, text: string): CheckpointFile => ({ name, write: (p) => fs.writeFileSync(p, text) });

describe('writeCheckpoint', () => {
  test('writes step directories and points last at the newest', () => {
    const out = path.join(root, 'a');
    const first = writeCheckpoint(out, 5, [file('state.json', '5')]);
    assert.equal(first, path.join(out, 'checkpoints', 'step-000005'));
    writeCheckpoint(out, 10, [file('state.json', '10')]);
    assert.equal(fs.readFileSync(path.join(out, 'last'), 'utf8'), 'checkpoints/step-000010\n');
    assert.equal(readLastPointer(out), path.join(out, 'checkpoints', 'step-000010'));
    assert.deepEqual(
      listCheckpoints(out).map((c) => c.step),
      [5, 10],
    );
    assert.deepEqual(fs.readdirSync(out).sort(), ['checkpoints', 'last']);
  });

  test('a write that fails midway leaves the previous checkpoint and pointer untouched', () => {
    const out = path.join(root, 'b');
    writeCheckpoint(out, 1, [file('state.json', 'good')]);
    const failing: CheckpointFile = {
      name: 'weights.bin',
      write: (p) => {
        fs.writeFileSync(p, 'partial');
        throw new Error('disk full');
      },
    };
    assert.throws(() => writeCheckpoint(out, 2, [file('state.json', 'new'), failing]), /disk full/);
    assert.equal(readLastPointer(out), path.join(out, 'checkpoints', 'step-000001'));
    assert.deepEqual(fs.readdirSync(path.join(out, 'checkpoints')), ['step-000001']);
    assert.equal(fs.readFileSync(path.join(resolveCheckpoint(out, 'state.json'), 'state.json'), 'utf8'), 'good');
  });

  test('a killed write (left-over temporary directory) is ignored, then cleaned up', () => {
    const out = path.join(root, 'c');
    writeCheckpoint(out, 1, [file('state.json', 'good')]);
    const stale = path.join(out, 'checkpoints', '.step-000002.tmp-99999');
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, 'state.json'), 'torn');
    assert.equal(resolveCheckpoint(out, 'state.json'), path.join(out, 'checkpoints', 'step-000001'));
    assert.deepEqual(
      listCheckpoints(out).map((c) => c.step),
      [1],
    );
    writeCheckpoint(out, 3, [file('state.json', 'three')]);
    assert.ok(!fs.existsSync(stale));
  });

  test('keep prunes the oldest; a step written twice keeps its first copy', () => {
    const out = path.join(root, 'd');
    for (const step of [1, 2, 3]) writeCheckpoint(out, step, [file('state.json', String(step))], { keep: 2 });
    assert.deepEqual(
      listCheckpoints(out).map((c) => c.step),
      [2, 3],
    );
    writeCheckpoint(out, 3, [file('state.json', 'again')]);
    assert.equal(fs.readFileSync(path.join(out, 'checkpoints', 'step-000003', 'state.json'), 'utf8'), '3');
  });

  test('resolveCheckpoint takes a run directory, a checkpoint directory or a file in one', () => {
    const out = path.join(root, 'e');
    const dir = writeCheckpoint(out, 7, [file('state.json', '7'), file('model.bin', 'm')]);
    assert.equal(resolveCheckpoint(out, 'state.json'), dir);
    assert.equal(resolveCheckpoint(dir, 'state.json'), dir);
    assert.equal(resolveCheckpoint(path.join(dir, 'model.bin'), 'state.json'), dir);
    assert.throws(() => resolveCheckpoint(path.join(root, 'nowhere'), 'state.json'), /does not exist/);
    assert.throws(() => resolveCheckpoint(root, 'state.json'), /neither a checkpoint directory/);
    fs.writeFileSync(path.join(out, 'last'), 'checkpoints/step-000099\n');
    assert.throws(() => resolveCheckpoint(out, 'state.json'), /step-000099, which does not exist/);
  });
});
