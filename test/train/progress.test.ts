// Progress output: plain lines every N steps off a TTY; one line redrawn in place on a TTY,
// with messages printed above it.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';

import { formatDuration, formatProgressLine, TerminalProgress, type ProgressStats } from '../../src/train/progress.js';

function stats(step: number): ProgressStats {
  return { step, totalSteps: 100, values: { loss: 0.123456, disc: 2e-5 }, imagesPerSecond: 12.34, etaSeconds: 192 };
}

function recorder(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (text: string) => chunks.push(text) } };
}

describe('progress', () => {
  test('the line shows step, values, throughput and ETA', () => {
    assert.equal(formatProgressLine(stats(7)), 'step   7/100 | loss 0.1235 disc 2.00e-5 | 12.3 img/s | ETA 3m12s');
    assert.equal(
      formatProgressLine({ ...stats(1), imagesPerSecond: NaN, etaSeconds: NaN }).endsWith('- img/s | ETA -'),
      true,
    );
    assert.deepEqual([42, 192, 7380].map(formatDuration), ['42s', '3m12s', '2h03m']);
  });

  test('without a TTY: a line every N steps and at the end, messages as lines', () => {
    const { chunks, stream } = recorder(false);
    const progress = new TerminalProgress({ stream, every: 10 });
    for (let step = 1; step <= 25; step++) progress.step({ ...stats(step), totalSteps: 25 });
    progress.message('checkpoint saved');
    progress.close();
    assert.deepEqual(
      chunks.map((c) => c.split(' ')[1]),
      ['10/25', '20/25', '25/25', 'saved\n'],
    );
    assert.ok(chunks.every((c) => c.endsWith('\n') && !c.includes('\r')));
  });

  test('on a TTY: the line is redrawn in place, cut to the width; messages go above it', () => {
    const { chunks, stream } = recorder(true, 30);
    const progress = new TerminalProgress({ stream, minIntervalMs: 0 });
    progress.step(stats(1));
    progress.message('eval done');
    progress.close();
    assert.ok(chunks[0].startsWith('\r\x1b[2K') && chunks[0].length === '\r\x1b[2K'.length + 29);
    assert.equal(chunks[1], `\r\x1b[2Keval done\n${chunks[0].slice('\r\x1b[2K'.length)}`);
    assert.equal(chunks[2], '\n');
  });
});
