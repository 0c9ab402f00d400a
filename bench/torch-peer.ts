// The PyTorch CPU column: bench/torch_peer.py under /usr/bin/python3 (or $BENCH_PYTHON), kept
// running so that each case can be timed right after ours (JSON lines on its stdin and stdout).
// When torch does not import there, the column is left out with a note; the bench never fails
// for that.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { BenchCase } from './cases.js';
import type { TimingPolicy } from './timing.js';

const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

// This file runs as dist/bench/torch-peer.js; the script stays in the source tree.
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'torch_peer.py');

// Imports torch, then prints the kernel set OpenBLAS picked (nothing when torch uses another BLAS).
const PROBE = `
import ctypes, torch
try:
    lib = ctypes.CDLL("libopenblas.so.0")
    lib.openblas_get_corename.restype = ctypes.c_char_p
    print(lib.openblas_get_corename().decode())
except (OSError, AttributeError):
    pass
`;

const AVX512_CORES = ['SkylakeX', 'Cooperlake', 'SapphireRapids'];
const AVX2_CORES = ['Haswell', 'Zen', ...AVX512_CORES];

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m);
    return new Set(line?.[1].trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/**
 * The OpenBLAS kernel set to force, or null to keep its own choice. OpenBLAS releases that do
 * not know a CPU model fall back to SSE3 kernels ("Prescott"), several times slower than the
 * AVX-512 or AVX2 ones the CPU runs; that would measure a misdetection, not PyTorch.
 */
function openBlasCoreOverride(detected: string): string | null {
  if (detected === '' || process.env.OPENBLAS_CORETYPE !== undefined) return null;
  const flags = cpuFlags();
  if (flags.has('avx512f') && !AVX512_CORES.includes(detected)) return 'SkylakeX';
  if (flags.has('avx2') && flags.has('fma') && !AVX2_CORES.includes(detected)) return 'Haswell';
  return null;
}

/** The environment for the torch process: thread counts, and the OpenBLAS kernel fix (with a note). */
function torchEnv(threads: number, notes: string[], detectedCore: string): NodeJS.ProcessEnv {
  const n = String(threads);
  // Debian's torch calls OpenBLAS, whose own thread pool ignores torch.set_num_threads.
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n };
  const core = openBlasCoreOverride(detectedCore);
  if (core !== null) {
    env.OPENBLAS_CORETYPE = core;
    notes.push(
      `OpenBLAS picked its ${detectedCore} kernels on this CPU; the torch column runs with OPENBLAS_CORETYPE=${core}`,
    );
  }
  return env;
}

/** A running bench/torch_peer.py: one round of one case per request, with the same policy as ours. */
export class TorchPeer {
  private stderr = '';
  /** torch.__version__, known once the peer has started. */
  version = '';

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    readonly notes: string[],
  ) {
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-2000);
    });
  }

  /** Starts the peer, or says why the torch column is left out. */
  static async start(threads: number): Promise<TorchPeer | { unavailable: string }> {
    const probe = spawnSync(PYTHON, ['-c', PROBE], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      const why = probe.error?.message ?? probe.stderr.trim().split('\n').pop();
      return { unavailable: `PyTorch column skipped: \`${PYTHON} -c "import torch"\` failed (${why})` };
    }
    const notes: string[] = [];
    const child = spawn(PYTHON, [SCRIPT], { env: torchEnv(threads, notes, probe.stdout.trim()) });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const peer = new TorchPeer(child, lines, notes);
    child.stdin.write(`${JSON.stringify({ threads })}\n`);
    const hello = await peer.nextLine();
    if (hello === null) return { unavailable: `PyTorch column failed to start: ${peer.stderr.trim()}` };
    const info = JSON.parse(hello) as { torch: string; notes: string[] };
    peer.version = info.torch;
    peer.notes.push(...info.notes);
    return peer;
  }

  private async nextLine(): Promise<string | null> {
    const next = await this.lines.next();
    return next.done === true ? null : next.value;
  }

  /** Wall times (ms) of torch's repetitions of a case; throws the peer's error. */
  async sample(benchCase: BenchCase, policy: TimingPolicy): Promise<number[]> {
    this.child.stdin.write(`${JSON.stringify({ case: benchCase, policy })}\n`);
    const line = await this.nextLine();
    if (line === null) throw new Error(`torch_peer.py exited: ${this.stderr.trim().split('\n').pop()}`);
    const reply = JSON.parse(line) as { times: number[] } | { error: string };
    if ('error' in reply) throw new Error(reply.error);
    return reply.times;
  }

  close(): void {
    this.child.stdin.end();
  }
}
