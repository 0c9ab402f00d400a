import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { parseDataSpec } from '../../src/data/spec.js';
import { npmPackageDir } from '../../src/data/packages.js';
import { encodePng } from '../../src/io/png.js';

test('each spec gives its dataset', () => {
  assert.equal(parseDataSpec('mnist', { split: 'test' }).name, 'mnist/test');
  assert.equal(parseDataSpec('fashion-mnist', { split: 'test', size: 28 }).size, 28);
  const emoji = parseDataSpec('emoji', { size: 32, crop: 'random' });
  assert.deepEqual([emoji.name, emoji.size, emoji.channels], ['emoji/train', 32, 3]);
  const dir = fs.mkdtempSync(join(tmpdir(), 'ldm-spec-'));
  try {
    fs.writeFileSync(join(dir, 'x.png'), encodePng({ channels: 1, height: 2, width: 2, data: new Uint8Array(4) }));
    const folder = parseDataSpec(`folder:${dir}`, { size: 2, channels: 1 });
    assert.deepEqual([folder.name, folder.length, folder.channels], [`folder:${dir}/train`, 1, 1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors list the valid specs, and say what to install', () => {
  assert.throws(
    () => parseDataSpec('cifar10'),
    /unknown data spec 'cifar10' \(valid: mnist, fashion-mnist, emoji, folder:<path>\)/,
  );
  assert.throws(() => parseDataSpec('folder:'), /folder: needs a path/);
  assert.throws(
    () => npmPackageDir('ldm-no-such-package', 'mnist'),
    /mnist: the npm package 'ldm-no-such-package' is not installed \(run: npm install ldm-no-such-package\)/,
  );
});
