// Optimizer update kernels.
import type { AdamStepParams } from '../../backend.js';
import type { Floats } from './floats.js';

/** One Adam / AdamW update in double precision; m and v are rounded to float32 as they are stored. */
export function adamStep(param: Floats, grad: Floats, expAvg: Floats, expAvgSq: Floats, p: AdamStepParams): void {
  const { beta1, beta2, eps, keep, stepSize, biasCorrection2Sqrt } = p;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    const m = Math.fround(beta1 * expAvg[i] + (1 - beta1) * g);
    const v = Math.fround(beta2 * expAvgSq[i] + (1 - beta2) * g * g);
    expAvg[i] = m;
    expAvgSq[i] = v;
    param[i] = Math.fround(param[i] * keep) - (stepSize * m) / (Math.sqrt(v) / biasCorrection2Sqrt + eps);
  }
}
