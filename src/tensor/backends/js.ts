// The js backend: every kernel in plain TypeScript loops, computing in doubles and storing
// float32. It is the correctness oracle the native backend is tested against, and the
// fallback where the addon cannot load (browsers). Kernel families live in ./js/.
import type { Backend } from '../backend.js';
import { attention, attentionGrad } from './js/attention.js';
import { conv2d, conv2dGradInput, conv2dGradWeight } from './js/conv2d.js';
import { copyStrided } from './js/copy.js';
import { binary, geglu, gegluGrad, unary, unaryGrad } from './js/elementwise.js';
import { matmul } from './js/matmul.js';
import { adamStep } from './js/optim.js';
import { groupNorm, groupNormGrad, layerNorm, layerNormGrad } from './js/norm.js';
import { reduce, softmax, softmaxGrad } from './js/reduce.js';
import { avgPool2d, avgPool2dGrad, upsampleNearest, upsampleNearestGrad } from './js/resample.js';

export function createJsBackend(): Backend {
  return {
    name: 'js',
    unary,
    unaryGrad,
    binary,
    reduce,
    softmax,
    softmaxGrad,
    geglu,
    gegluGrad,
    matmul,
    conv2d,
    conv2dGradInput,
    conv2dGradWeight,
    groupNorm,
    groupNormGrad,
    layerNorm,
    layerNormGrad,
    attention,
    attentionGrad,
    upsampleNearest,
    upsampleNearestGrad,
    avgPool2d,
    avgPool2dGrad,
    copyStrided,
    adamStep,
    // Single-threaded by nature: the setting exists for the native backend.
    setNumThreads: () => {},
    getNumThreads: () => 1,
  };
}
