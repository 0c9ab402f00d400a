// `npm run bench`: our kernels beside onnxruntime-node (forward ops) and PyTorch CPU on the
// same cases, same shapes and same thread count, in one run, as speed ratios. Absolute times
// on a shared machine are noise; ratios measured together are what to read.
//
//   node dist/bench/run.js [--threads N] [--only <id substring>] [--backend native|js] [--markdown]
//
// Columns run one after another (ours, then ORT, then torch), never at the same time, so that
// they do not compete for cores. Results also go to dist/bench-results.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { getBackend, setNumThreads, useBackend } from '../src/index.js';
import { selectCases, type BenchCase } from './cases.js';
import { runLdmBlock } from './ldm-block.js';
import { loadOrt, runOrtPeer } from './ort-peer.js';
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
import { DEFAULT_POLICY, timeSync } from './timing.js';
import { runTorchPeer } from './torch-peer.js';

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

function errorCell(e: unknown): Cell {
  return { error: e instanceof Error ? e.message : String(e) };
}

/** Our column, plus the RSS trace of the LDM block case. */
function runOurs(cases: readonly BenchCase[]): { cells: Map<string, Cell>; memory: MemorySummary | null } {
  const cells = new Map<string, Cell>();
  let memory: MemorySummary | null = null;
  for (const benchCase of cases) {
    const spec = benchCase.spec;
    try {
      if (spec.kind === 'ldm_block') {
        const result = runLdmBlock(spec);
        cells.set(benchCase.id, { medianMs: result.medianMs, reps: result.reps });
        memory = summarizeMemory(result);
      } else {
        cells.set(benchCase.id, timeSync(oursCase(spec), DEFAULT_POLICY));
      }
    } catch (e) {
      cells.set(benchCase.id, errorCell(e));
    }
    process.stderr.write(`  ours: ${benchCase.id}\n`);
  }
  return { cells, memory };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const cases = selectCases(options.only);
  if (options.backend !== undefined) useBackend(options.backend);
  const backend = getBackend().name;
  setNumThreads(options.threads);
  const started = new Date();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const notes: string[] = [];

  process.stderr.write(`bench: ${cases.length} cases, ${options.threads} threads, ${backend} backend\n`);
  const ours = runOurs(cases);

  const ort = await loadOrt();
  let ortCells = new Map<string, Cell>();
  if (ort === null) notes.push('onnxruntime-node is not installed (npm install --include=dev): ORT column empty');
  else {
    process.stderr.write('  ORT ...\n');
    ortCells = await runOrtPeer(ort, cases, options.threads, DEFAULT_POLICY);
  }

  process.stderr.write('  torch ...\n');
  const torch = runTorchPeer(cases, options.threads, DEFAULT_POLICY);
  const torchColumn = !('unavailable' in torch);
  if ('unavailable' in torch) notes.push(torch.unavailable);
  else notes.push(...torch.notes);

  const rows: Row[] = cases.map((benchCase) => ({
    benchCase,
    ours: ours.cells.get(benchCase.id) ?? null,
    ort: ortCells.get(benchCase.id) ?? null,
    torch: torchColumn ? (torch.results.get(benchCase.id) ?? null) : null,
  }));

  const versions = [`node ${process.version}`, ort ? `onnxruntime-node ${ort.env.versions.node}` : null];
  if (torchColumn) versions.push(`torch ${torch.version}`);
  console.log(`\n${started.toISOString()}  ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
  console.log(
    `threads ${options.threads} in every column; ours on the ${backend} backend; ${versions.filter(Boolean).join(', ')}`,
  );
  console.log('times are medians (ms); ours/peer = peer time / our time, so > 1 means we are faster\n');
  console.log(formatTable(rows, torchColumn));
  if (ours.memory !== null) console.log(`\n${formatMemory(ours.memory)}`);
  for (const note of notes) console.log(`note: ${note}`);
  if (options.markdown) console.log(`\n${formatMarkdown(rows, torchColumn)}`);
  console.log(`\nbench took ${((Date.now() - started.getTime()) / 1e3).toFixed(0)} s`);

  const outPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results.json');
  mkdirSync(dirname(outPath), { recursive: true });
  const record = {
    date: started.toISOString(),
    machine: { cpu, cores: cpus().length, totalMemGiB: totalmem() / 2 ** 30 },
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
    ldmBlockMemory: ours.memory,
  };
  writeFileSync(outPath, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`\nresults written to ${outPath}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
