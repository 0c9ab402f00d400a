// The onnxruntime-node column: each forward case as a small ONNX graph (bench/onnx-model.ts)
// run by the CPU execution provider with the same thread count as ours. ORT has no training
// API in onnxruntime-node, so backward cases have no ORT figure.
import type { BenchCase, CaseSpec } from './cases.js';
import { encodeOnnxModel, type OnnxGraph, type OnnxInitializer } from './onnx-model.js';
import { sampleAsync, type TimingPolicy } from './timing.js';

export type Ort = typeof import('onnxruntime-node');

// GroupNormalization-21 takes per-channel scale and bias, as torch's GroupNorm does.
const OPSET = 21;

interface OrtCase {
  graph: OnnxGraph;
  /** Graph inputs: name and shape (filled with random values). */
  feeds: readonly { name: string; dims: readonly number[] }[];
}

function randomValues(n: number, seed: number): Float32Array {
  // A small xorshift generator: peers need plausible values, not a particular stream.
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

function weight(name: string, dims: readonly number[], seed: number): OnnxInitializer {
  return {
    name,
    dims,
    data: randomValues(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
  };
}

function constant(name: string, value: number): OnnxInitializer {
  return { name, dims: [], data: Float32Array.of(value) };
}

/** The ORT graph of a forward case, or null for cases ORT does not run. */
function buildCase(spec: CaseSpec): OrtCase | null {
  switch (spec.kind) {
    case 'matmul': {
      const a = { name: 'a', dims: [spec.m, spec.k] };
      const b = { name: 'b', dims: [spec.k, spec.n] };
      return {
        graph: {
          opset: OPSET,
          nodes: [{ opType: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
          inputs: [a, b],
          outputs: [{ name: 'y', dims: [spec.m, spec.n] }],
        },
        feeds: [a, b],
      };
    }
    case 'attention': {
      if (spec.backward) return null;
      // softmax(scale * q k^T) v on [B, H, T, D], the layout torch's attention takes.
      const dims = [spec.batch, spec.heads, spec.tokens, spec.headDim];
      const inputs = ['q', 'k', 'v'].map((name) => ({ name, dims }));
      return {
        graph: {
          opset: OPSET,
          nodes: [
            { opType: 'Transpose', inputs: ['k'], outputs: ['kT'], attributes: { perm: { ints: [0, 1, 3, 2] } } },
            { opType: 'MatMul', inputs: ['q', 'kT'], outputs: ['scores'] },
            { opType: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
            { opType: 'Softmax', inputs: ['scaled'], outputs: ['probs'], attributes: { axis: { int: -1 } } },
            { opType: 'MatMul', inputs: ['probs', 'v'], outputs: ['y'] },
          ],
          inputs,
          outputs: [{ name: 'y', dims }],
          initializers: [constant('scale', 1 / Math.sqrt(spec.headDim))],
        },
        feeds: inputs,
      };
    }
    case 'conv2d': {
      if (spec.backward) return null;
      const c = spec.channels;
      const x = { name: 'x', dims: [spec.batch, c, spec.size, spec.size] };
      return {
        graph: {
          opset: OPSET,
          nodes: [
            {
              opType: 'Conv',
              inputs: ['x', 'w', 'b'],
              outputs: ['y'],
              attributes: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } },
            },
          ],
          inputs: [x],
          outputs: [{ name: 'y', dims: x.dims }],
          initializers: [weight('w', [c, c, 3, 3], 1), weight('b', [c], 2)],
        },
        feeds: [x],
      };
    }
    case 'groupnorm_silu': {
      if (spec.backward) return null;
      const c = spec.channels;
      const x = { name: 'x', dims: [spec.batch, c, spec.size, spec.size] };
      return {
        graph: {
          opset: OPSET,
          nodes: [
            {
              opType: 'GroupNormalization',
              inputs: ['x', 'gamma', 'beta'],
              outputs: ['n'],
              attributes: { num_groups: { int: spec.groups }, epsilon: { float: 1e-5 } },
            },
            { opType: 'Sigmoid', inputs: ['n'], outputs: ['s'] },
            { opType: 'Mul', inputs: ['n', 's'], outputs: ['y'] },
          ],
          inputs: [x],
          outputs: [{ name: 'y', dims: x.dims }],
          initializers: [weight('gamma', [c], 3), weight('beta', [c], 4)],
        },
        feeds: [x],
      };
    }
    case 'ldm_block':
    case 'unet_train':
      return null;
  }
}

/** A case loaded into an ORT session, ready to be timed in rounds. */
export interface OrtCaseSession {
  sample(policy: TimingPolicy): Promise<number[]>;
  /** Frees the session and its thread pool, so that no idle ORT thread competes later. */
  release(): Promise<void>;
}

/** Loads one case into an ORT session; null for cases ORT does not run. Throws what ORT throws. */
export async function openOrtCase(ort: Ort, benchCase: BenchCase, threads: number): Promise<OrtCaseSession | null> {
  const built = buildCase(benchCase.spec);
  if (built === null) return null;
  const session = await ort.InferenceSession.create(encodeOnnxModel(built.graph), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = Object.fromEntries(
    built.feeds.map((f, i) => {
      const size = f.dims.reduce((a, b) => a * b, 1);
      return [f.name, new ort.Tensor('float32', randomValues(size, 100 + i), [...f.dims])];
    }),
  );
  return {
    sample: (policy) => sampleAsync(() => session.run(feeds), policy),
    release: () => session.release(),
  };
}

/** onnxruntime-node, or null when it is not installed (it is a devDependency). */
export async function loadOrt(): Promise<Ort | null> {
  try {
    return await import('onnxruntime-node');
  } catch {
    return null;
  }
}
