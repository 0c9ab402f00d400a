// Prints the compute comparison table of docs/compute-claim.md from what scripts/compute-table.sh made:
// node scripts/compute-table-summary.mjs [runs-dir] [out-dir]   (defaults runs/compute, docs/compute-claim)
// Per row <data>-f<f>: U-Net parameters from the start record of <runs>/<row>/log.jsonl; steps, training
// seconds and samples/s from its end record (training steps only: the latent cache, the final preview
// and the checkpoint are outside the budget); the latent shape from the last checkpoint's config; and
// from <out>/<row>-eval.json the DDIM 50 row (sampling images/s = images over the row's seconds, which
// include guidance's two U-Net passes per step, decoding and the classifier's look at the samples) and
// the held-out real images row as each dataset's reference.
import * as fs from 'node:fs';
import * as path from 'node:path';

const runs = process.argv[2] ?? 'runs/compute';
const out = process.argv[3] ?? 'docs/compute-claim';
const DATASETS = ['mnist', 'emoji'];
const FACTORS = [1, 4, 8];
const SAMPLER_ROW = 'ddim 50';

function readRecords(file) {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** The figures of one row, or a reason why there are none. */
function readRow(row) {
  const run = path.join(runs, row);
  const evalFile = path.join(out, `${row}-eval.json`);
  const log = path.join(run, 'log.jsonl');
  if (!fs.existsSync(log)) return { missing: `no ${log}` };
  if (!fs.existsSync(evalFile)) return { missing: `no ${evalFile}` };
  const records = readRecords(log);
  const start = records.findLast((r) => r.event === 'start');
  const end = records.findLast((r) => r.event === 'end');
  if (start === undefined || end === undefined) return { missing: `${log} has no start and end records` };
  if (end.samples_per_second === undefined) return { missing: `${log}: the end record has no samples_per_second` };
  const last = fs.readFileSync(path.join(run, 'last'), 'utf8').trim();
  const trainer = JSON.parse(fs.readFileSync(path.join(run, last, 'trainer.json'), 'utf8'));
  const { channels, image_size: size } = trainer.config.model.params;
  const evaluation = JSON.parse(fs.readFileSync(evalFile, 'utf8'));
  const sampled = evaluation.rows.find((r) => r.name === SAMPLER_ROW);
  const real = evaluation.rows.find((r) => r.name === 'held-out real images');
  if (sampled === undefined) return { missing: `${evalFile} has no "${SAMPLER_ROW}" row` };
  return {
    latent: `${channels} x ${size} x ${size}`,
    parameters: start.parameters,
    steps: end.step,
    trainSeconds: end.train_seconds,
    endReason: end.reason,
    trainPerSecond: end.samples_per_second,
    samplePerSecond: sampled.images / sampled.seconds,
    images: sampled.images,
    accuracy: sampled.accuracy,
    frechet: sampled.frechet,
    guidance: evaluation.guidance,
    real,
  };
}

const percent = (x) => `${(100 * x).toFixed(1)}%`;
const ratio = (x, base) => (base === undefined ? '' : ` (${(x / base).toFixed(1)}x)`);

const lines = [
  '| data | f | latent | U-Net parameters | steps in budget | training samples/s | sampling images/s (DDIM 50) | accuracy | Frechet distance |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
const notes = [];
const measured = [];
for (const data of DATASETS) {
  const rows = FACTORS.map((f) => ({ f, name: `${data}-f${f}`, figures: readRow(`${data}-f${f}`) }));
  const pixel = rows[0].figures.missing === undefined ? rows[0].figures : {};
  let real;
  for (const { f, name, figures } of rows) {
    if (figures.missing !== undefined) {
      notes.push(`${name}: ${figures.missing}`);
      continue;
    }
    measured.push(figures);
    real ??= figures.real;
    if (figures.endReason !== 'time-limit') notes.push(`${name}: training ended by "${figures.endReason}"`);
    lines.push(
      `| ${data} | ${f} | ${figures.latent} | ${figures.parameters.toLocaleString('en-US')} | ${figures.steps} ` +
        `(${figures.trainSeconds.toFixed(0)} s) | ${figures.trainPerSecond.toFixed(1)}${ratio(figures.trainPerSecond, pixel.trainPerSecond)} | ` +
        `${figures.samplePerSecond.toFixed(2)}${ratio(figures.samplePerSecond, pixel.samplePerSecond)} | ` +
        `${percent(figures.accuracy)} | ${figures.frechet.toFixed(3)} |`,
    );
  }
  if (real !== undefined) {
    lines.push(`| ${data} | held-out real images | | | | | | ${percent(real.accuracy)} | ${real.frechet.toFixed(3)} |`);
  }
}
console.log(lines.join('\n'));
if (measured.length > 0) {
  const { images, guidance } = measured[0];
  console.log(
    `\n(Nx): N times the f = 1 row of the same data. Accuracy and Frechet distance: ${images} samples per row ` +
      `(DDIM 50, guidance ${guidance}) under \`ldm eval\`'s classifier.`,
  );
}
for (const note of notes) console.error(`note: ${note}`);
