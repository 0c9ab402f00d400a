// `npm run bench`: our kernels beside onnxruntime-node (forward ops) and PyTorch CPU on the
// same cases, same shapes and same thread count, in one run, as speed ratios. Absolute times
// on a shared machine are noise; ratios measured together are what to read.
//
//   node dist/bench/run.js [--threads N] [--only <id substring>] [--backend native|js] [--markdown]
//
// The columns never run at the same time: for each case they take turns in rounds (see
// bench/timing.ts), so that they do not compete for cores and load from elsewhere on the
// machine hits them alike. Results also go to dist/bench-results.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { getBackend, setNumThreads, useBackend } from '../src/index.js';
import { selectCases, type BenchCase, type CaseSpec, type LdmBlockSpec } from './cases.js';
import { runLdmBlock } from './ldm-block.js';
import { loadOrt, openOrtCase, type Ort, type OrtCaseSession } from './ort-peer.js';
import { oursCase } from './ours.js';
import {
  formatMarkdown,
  formatMemory,
  formatTable,
  gflops,
  speedRatio,
  summarizeMemory,
  type Cell,
  type MemorySummary,
  type Row,
} from './report.js';
import { DEFAULT_POLICY, ROUNDS, TRAIN_STEP_POLICY, roundPolicy, sampleSync, summarize } from './timing.js';
import { TorchPeer } from './torch-peer.js';

interface Options {
  threads: number;
  only: string | undefined;
  backend: 'native' | 'js' | undefined;
  markdown: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      only: { type: 'string' },
      backend: { type: 'string' },
      markdown: { type: 'boolean', default: false },
    },
  });
  const threads = values.threads === undefined ? availableParallelism() : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`--threads must be a positive integer, got ${values.threads}`);
  if (values.backend !== undefined && values.backend !== 'native' && values.backend !== 'js') {
    throw new Error(`--backend must be native or js, got ${values.backend}`);
  }
  return { threads, only: values.only, backend: values.backend, markdown: values.markdown ?? false };
}

/** One column's repetitions of a case, gathered over the rounds; the first error ends it. */
class ColumnSamples {
  private readonly times: number[] = [];
  private error: string | null = null;

  async add(sample: () => number[] | Promise<number[]>): Promise<void> {
    if (this.error !== null) return;
    try {
      this.times.push(...(await sample()));
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
  }

  fail(e: unknown): void {
    this.error ??= e instanceof Error ? e.message : String(e);
  }

  cell(): Cell {
    if (this.error !== null) return { error: this.error };
    return this.times.length === 0 ? null : summarize(this.times);
  }
}

/** Times an op case in rounds, every column taking its turn in each round. */
async function timeOpCase(
  benchCase: BenchCase,
  spec: Exclude<CaseSpec, LdmBlockSpec>,
  ort: Ort | null,
  torch: TorchPeer | null,
  threads: number,
): Promise<Row> {
  const ours = new ColumnSamples();
  const ortSamples = new ColumnSamples();
  const torchSamples = new ColumnSamples();
  let oursRun: (() => void) | null = null;
  let ortSession: OrtCaseSession | null = null;
  try {
    oursRun = oursCase(spec);
  } catch (e) {
    ours.fail(e);
  }
  try {
    ortSession = ort === null ? null : await openOrtCase(ort, benchCase, threads);
  } catch (e) {
    ortSamples.fail(e);
  }
  const casePolicy = spec.kind === 'unet_train' ? TRAIN_STEP_POLICY : DEFAULT_POLICY;
  for (let round = 0; round < ROUNDS; round++) {
    const policy = roundPolicy(casePolicy, round);
    if (oursRun !== null) await ours.add(() => sampleSync(oursRun, policy));
    if (ortSession !== null) await ortSamples.add(() => ortSession.sample(policy));
    if (torch !== null) await torchSamples.add(() => torch.sample(benchCase, policy));
  }
  await ortSession?.release();
  return { benchCase, ours: ours.cell(), ort: ortSamples.cell(), torch: torchSamples.cell() };
}

/** The LDM block: ours in one go (its RSS trace needs consecutive iterations), then torch. */
async function timeLdmBlock(
  benchCase: BenchCase,
  spec: LdmBlockSpec,
  torch: TorchPeer | null,
): Promise<{ row: Row; memory: MemorySummary | null }> {
  const ours = new ColumnSamples();
  let memory: MemorySummary | null = null;
  await ours.add(() => {
    const result = runLdmBlock(spec);
    memory = summarizeMemory(result);
    return result.times;
  });
  const torchSamples = new ColumnSamples();
  if (torch !== null) await torchSamples.add(() => torch.sample(benchCase, DEFAULT_POLICY));
  return { row: { benchCase, ours: ours.cell(), ort: null, torch: torchSamples.cell() }, memory };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const cases = selectCases(options.only);
  if (options.backend !== undefined) useBackend(options.backend);
  const backend = getBackend().name;
  setNumThreads(options.threads);
  const started = new Date();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const loadBefore = loadavg()[0];
  const notes: string[] = [];

  const ort = await loadOrt();
  if (ort === null) notes.push('onnxruntime-node is not installed (npm install --include=dev): ORT column empty');
  const torch = await TorchPeer.start(options.threads);
  const torchPeer = torch instanceof TorchPeer ? torch : null;
  if (torchPeer === null && 'unavailable' in torch) notes.push(torch.unavailable);

  process.stderr.write(`bench: ${cases.length} cases, ${options.threads} threads, ${backend} backend\n`);
  const rows: Row[] = [];
  let memory: MemorySummary | null = null;
  for (const benchCase of cases) {
    process.stderr.write(`  ${benchCase.id}\n`);
    const spec = benchCase.spec;
    if (spec.kind === 'ldm_block') {
      const result = await timeLdmBlock(benchCase, spec, torchPeer);
      rows.push(result.row);
      memory ??= result.memory;
    } else {
      rows.push(await timeOpCase(benchCase, spec, ort, torchPeer, options.threads));
    }
  }
  for (const row of rows) {
    const spec = row.benchCase.spec;
    if (spec.kind !== 'unet_train' || row.ours === null || 'error' in row.ours) continue;
    const checked = row.torch !== null && !('error' in row.torch) ? 'ours and torch' : 'ours';
    notes.push(`${row.benchCase.id}: ${spec.parameters.toLocaleString('en-US')} parameters (${checked} checked)`);
  }
  const torchColumn = torchPeer !== null;
  if (torchPeer !== null) {
    torchPeer.close();
    notes.push(...torchPeer.notes);
  }

  const versions = [`node ${process.version}`, ort ? `onnxruntime-node ${ort.env.versions.node}` : null];
  if (torchPeer !== null) versions.push(`torch ${torchPeer.version}`);
  console.log(`\n${started.toISOString()}  ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
  console.log(
    `threads ${options.threads} in every column; ours on the ${backend} backend; ${versions.filter(Boolean).join(', ')}`,
  );
  // Other processes on the machine skew everything; the load average says how busy it was.
  const load = `1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`;
  console.log(`${load}; times are medians (ms); ours/peer = peer time / our time, so > 1 means we are faster\n`);
  console.log(formatTable(rows, torchColumn));
  if (memory !== null) console.log(`\n${formatMemory(memory)}`);
  for (const note of notes) console.log(`note: ${note}`);
  if (options.markdown) console.log(`\n${formatMarkdown(rows, torchColumn)}`);
  console.log(`\nbench took ${((Date.now() - started.getTime()) / 1e3).toFixed(0)} s`);

  const outPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results.json');
  mkdirSync(dirname(outPath), { recursive: true });
  const record = {
    date: started.toISOString(),
    machine: { cpu, cores: cpus().length, totalMemGiB: totalmem() / 2 ** 30 },
    loadAverage: { start: loadBefore, end: loadavg()[0] },
    threads: options.threads,
    backend,
    versions: versions.filter(Boolean),
    notes,
    cases: rows.map((r) => ({
      id: r.benchCase.id,
      label: r.benchCase.label,
      gflop: r.benchCase.gflop,
      ours: r.ours,
      ort: r.ort,
      torch: r.torch,
      oursGflops: gflops(r.benchCase, r.ours),
      speedVsOrt: speedRatio(r.ours, r.ort),
      speedVsTorch: speedRatio(r.ours, r.torch),
    })),
    ldmBlockMemory: memory,
  };
  writeFileSync(outPath, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`\nresults written to ${outPath}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
