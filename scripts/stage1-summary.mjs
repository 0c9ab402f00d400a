// Prints the stage-1 table of docs/autoencoder-results.md from the runs scripts/stage1-table.sh made:
// node scripts/stage1-summary.mjs [runs-dir]   (default runs/stage1)
// Time is wall time from the run's start record to its end record (evaluations and checkpoints
// included); images/s is training images over that time.
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = process.argv[2] ?? 'runs/stage1';
const rows = [];
for (const name of fs.readdirSync(root).sort()) {
  const log = path.join(root, name, 'log.jsonl');
  if (!fs.existsSync(log)) continue;
  const records = fs
    .readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const start = records.find((r) => r.event === 'start');
  const end = records.findLast((r) => r.event === 'end');
  const evaluation = records.findLast((r) => r.event === 'eval');
  if (start === undefined || end === undefined || evaluation === undefined) continue;
  const seconds = (Date.parse(end.time) - Date.parse(start.time)) / 1000;
  const images = end.step * start.settings.batchSize * start.settings.accumulate;
  rows.push(
    `| ${name} | ${path.basename(start.config, '.yaml')} | ${start.settings.data} | ${start.parameters.toLocaleString('en-US')} | ` +
      `${end.step} | ${seconds.toFixed(0)} s | ${(images / seconds).toFixed(1)} | ${evaluation['val/psnr'].toFixed(2)} | ${evaluation['val/ssim'].toFixed(4)} |`,
  );
}
console.log('| run | config | data | parameters | steps | time | images/s | PSNR (dB) | SSIM |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
