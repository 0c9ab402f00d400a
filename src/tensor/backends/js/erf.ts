// The error function, which JavaScript's Math lacks; exact GELU needs it.
//
// Two classical expansions, each used where it converges fast (both to full double
// precision, far past the float32 the kernels store):
// - |x| < 2.5: erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*...*(2n+1)), a series of
//   positive terms (Abramowitz & Stegun 7.1.6), so no cancellation; at most ~36 terms.
// - |x| >= 2.5: Laplace's continued fraction
//   erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))) (A&S 7.1.14),
//   evaluated bottom-up from a fixed depth of 40, which reaches 3e-16 relative at x = 2.5.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SERIES_LIMIT = 2.5;
const FRACTION_DEPTH = 40;

/** erf(x) for 0 <= x < SERIES_LIMIT. */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= twoX2 / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/** erfc(x) for x >= SERIES_LIMIT. */
function erfcContinuedFraction(x: number): number {
  let denominator = x;
  for (let n = FRACTION_DEPTH; n >= 1; n--) denominator = x + n / 2 / denominator;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * denominator);
}

/** The complementary error function 1 - erf(x), accurate in the tails where 1 - erf(x) would cancel. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  return x < SERIES_LIMIT ? 1 - erfSeries(x) : erfcContinuedFraction(x);
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  return x < SERIES_LIMIT ? erfSeries(x) : 1 - erfcContinuedFraction(x);
}

/** The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, written with erfc so the left tail keeps its precision. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}
