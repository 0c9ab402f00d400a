// Which backend runs the kernels. Native is the default in Node when its addon is built;
// the pure-TypeScript backend is the fallback and the correctness oracle.
import type { Backend } from './backend.js';
import { createJsBackend } from './backends/js.js';
import { createNativeBackend, nativeAddonPath } from './backends/native.js';

export type BackendName = Backend['name'];

const backends = new Map<BackendName, Backend>();
let current: Backend | null = null;

/** The backend with this name, created on first use. */
export function backendByName(name: BackendName): Backend {
  let backend = backends.get(name);
  if (!backend) {
    backend = name === 'native' ? createNativeBackend() : createJsBackend();
    backends.set(name, backend);
  }
  return backend;
}

export function isNativeAvailable(): boolean {
  return nativeAddonPath() !== null;
}

/** The backend ops run on now. */
export function getBackend(): Backend {
  if (current === null) {
    const fromEnv = process.env.LDM_BACKEND;
    if (fromEnv !== undefined && fromEnv !== 'js' && fromEnv !== 'native') {
      throw new Error(`LDM_BACKEND must be "js" or "native", got "${fromEnv}"`);
    }
    current = backendByName(fromEnv ?? (isNativeAvailable() ? 'native' : 'js'));
  }
  return current;
}

/** Selects the backend for all later ops. */
export function useBackend(name: BackendName): void {
  current = backendByName(name);
}

/** Runs fn with a backend selected, then restores the previous one. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const previous = getBackend();
  current = backendByName(name);
  try {
    return fn();
  } finally {
    current = previous;
  }
}

/** Threads used by native kernels (default: all cores). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNumThreads: n must be a positive integer, got ${n}`);
  getBackend().setNumThreads(n);
}

export function getNumThreads(): number {
  return getBackend().getNumThreads();
}
