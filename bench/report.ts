// Formats the benchmark results: a text table for the terminal and a JSON record.
import type { BenchCase } from './cases.js';
import type { Timing } from './timing.js';

/** A column's figure for one case: a timing, an error, or null where that column has no such case. */
export type Cell = Timing | { error: string } | null;

export interface Row {
  benchCase: BenchCase;
  ours: Cell;
  ort: Cell;
  torch: Cell;
}

export interface MemoryTrace {
  /** Process RSS (bytes) after each LDM block iteration, warm-up iterations first. */
  rssAfterIteration: number[];
  warmup: number;
}

export interface MemorySummary {
  iterations: number;
  warmup: number;
  firstMiB: number;
  afterWarmupMiB: number;
  lastMiB: number;
  maxMiB: number;
  /** last minus the value after the warm-up iterations. */
  growthAfterWarmupMiB: number;
  /** RSS after each iteration (MiB). */
  traceMiB: number[];
}

const MIB = 1024 * 1024;

export function summarizeMemory(trace: MemoryTrace): MemorySummary {
  const rss = trace.rssAfterIteration.map((b) => b / MIB);
  const afterWarmup = rss[Math.max(0, trace.warmup - 1)];
  const last = rss[rss.length - 1];
  return {
    iterations: rss.length,
    warmup: trace.warmup,
    firstMiB: rss[0],
    afterWarmupMiB: afterWarmup,
    lastMiB: last,
    maxMiB: Math.max(...rss),
    growthAfterWarmupMiB: last - afterWarmup,
    traceMiB: rss,
  };
}

function ms(cell: Cell): number | null {
  return cell !== null && 'medianMs' in cell ? cell.medianMs : null;
}

/** Speed of ours relative to a peer: peer time / our time (> 1 means we are faster). */
export function speedRatio(ours: Cell, peer: Cell): number | null {
  const a = ms(ours);
  const b = ms(peer);
  return a === null || b === null ? null : b / a;
}

export function gflops(benchCase: BenchCase, cell: Cell): number | null {
  const t = ms(cell);
  return t === null || benchCase.gflop === null ? null : benchCase.gflop / (t / 1e3);
}

function showMs(cell: Cell): string {
  if (cell === null) return '-';
  if ('error' in cell) return 'error';
  return cell.medianMs >= 100 ? cell.medianMs.toFixed(0) : cell.medianMs.toFixed(2);
}

function showNumber(value: number | null, digits: number, suffix = ''): string {
  return value === null ? '-' : `${value.toFixed(digits)}${suffix}`;
}

/** The results as an aligned text table, with errors listed below it. */
export function formatTable(rows: readonly Row[], torchColumn: boolean): string {
  const header = ['case', 'ours ms', 'GFLOP/s', 'ORT ms', 'ours/ORT'];
  if (torchColumn) header.push('torch ms', 'ours/torch');
  const lines = rows.map((r) => {
    const cells = [
      r.benchCase.label,
      showMs(r.ours),
      showNumber(gflops(r.benchCase, r.ours), 1),
      showMs(r.ort),
      showNumber(speedRatio(r.ours, r.ort), 2, 'x'),
    ];
    if (torchColumn) cells.push(showMs(r.torch), showNumber(speedRatio(r.ours, r.torch), 2, 'x'));
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)];
  for (const r of rows) {
    for (const [column, cell] of [
      ['ours', r.ours],
      ['ORT', r.ort],
      ['torch', r.torch],
    ] as const) {
      if (cell !== null && 'error' in cell) out.push(`  ${r.benchCase.id} (${column}): ${cell.error}`);
    }
  }
  return out.join('\n');
}

/** The same results as a markdown table, for docs/benchmarks.md. */
export function formatMarkdown(rows: readonly Row[], torchColumn: boolean): string {
  const header = [
    'case',
    'ours ms',
    'ours GFLOP/s',
    'ORT ms',
    'ours/ORT',
    ...(torchColumn ? ['torch ms', 'ours/torch'] : []),
  ];
  const lines = rows.map((r) => [
    r.benchCase.label,
    showMs(r.ours),
    showNumber(gflops(r.benchCase, r.ours), 1),
    showMs(r.ort),
    showNumber(speedRatio(r.ours, r.ort), 2, 'x'),
    ...(torchColumn ? [showMs(r.torch), showNumber(speedRatio(r.ours, r.torch), 2, 'x')] : []),
  ]);
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [row(header), row(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...lines.map(row)].join('\n');
}

export function formatMemory(summary: MemorySummary): string {
  const f = (v: number): string => v.toFixed(1);
  const sign = summary.growthAfterWarmupMiB >= 0 ? '+' : '';
  return (
    `LDM block, process RSS over ${summary.iterations} iterations (${summary.warmup} warm-up): ` +
    `first ${f(summary.firstMiB)} MiB, after warm-up ${f(summary.afterWarmupMiB)}, last ${f(summary.lastMiB)}, ` +
    `max ${f(summary.maxMiB)}; growth after warm-up ${sign}${f(summary.growthAfterWarmupMiB)} MiB\n` +
    `  RSS MiB after each iteration: ${summary.traceMiB.map((v) => v.toFixed(0)).join(' ')}`
  );
}
