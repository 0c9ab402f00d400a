// The PyTorch CPU column: runs bench/torch_peer.py under /usr/bin/python3 (or $BENCH_PYTHON)
// with the case list on stdin. When torch does not import there, the column is left out
// with a note; the bench never fails for that.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { BenchCase } from './cases.js';
import type { Timing, TimingPolicy } from './timing.js';

export type PeerResult = Timing | { error: string };

export interface TorchPeerOutput {
  version: string;
  notes: string[];
  results: Map<string, PeerResult>;
}

const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

// This file runs as dist/bench/torch-peer.js; the script stays in the source tree.
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'torch_peer.py');

/** Runs the torch column, or returns a note saying why it could not. */
export function runTorchPeer(
  cases: readonly BenchCase[],
  threads: number,
  policy: TimingPolicy,
): TorchPeerOutput | { unavailable: string } {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = probe.error?.message ?? probe.stderr.trim().split('\n').pop();
    return { unavailable: `PyTorch column skipped: \`${PYTHON} -c "import torch"\` failed (${why})` };
  }
  const threadEnv = String(threads);
  const run = spawnSync(PYTHON, [SCRIPT], {
    input: JSON.stringify({ threads, policy, cases }),
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    // Debian's torch calls OpenBLAS, whose own thread pool ignores torch.set_num_threads.
    env: { ...process.env, OMP_NUM_THREADS: threadEnv, OPENBLAS_NUM_THREADS: threadEnv, MKL_NUM_THREADS: threadEnv },
  });
  if (run.error !== undefined || run.status !== 0) {
    return { unavailable: `PyTorch column failed: ${run.error?.message ?? run.stderr.trim().split('\n').pop()}` };
  }
  const parsed = JSON.parse(run.stdout) as { torch: string; notes: string[]; results: Record<string, PeerResult> };
  return { version: parsed.torch, notes: parsed.notes, results: new Map(Object.entries(parsed.results)) };
}
