// Float transcendental functions written so that GCC vectorises loops that call them.
// std::exp, std::log and std::erf are library calls that GCC does not vectorise without
// -ffast-math; these use only arithmetic, bit casts and selects, so inside a
// `#pragma omp simd` loop they become straight-line SIMD code. Special cases are selects,
// not branches. Under the default -ftrapping-math GCC still refuses to vectorise arithmetic
// that it has sunk into one arm of a select, so files that call these in loops set
// `#pragma GCC optimize("no-trapping-math")` (see elementwise.cc).
//
// Accuracy, against double precision over every 7th float bit pattern: largest relative
// error 8e-8 (exp, log), 2.4e-7 (sigmoid, tanh, silu), 4.8e-7 (gelu, its derivative and the
// normal CDF), wherever the result is above 1e-36 (away from the subnormal range).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#define LDM_INLINE inline __attribute__((always_inline))

namespace ldm {

LDM_INLINE float BitsToFloat(int32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

LDM_INLINE int32_t FloatToBits(float f) {
  int32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// 2^n for -126 <= n <= 127, built from its exponent bits.
LDM_INLINE float PowerOfTwo(int32_t n) {
  return BitsToFloat(static_cast<int32_t>(static_cast<uint32_t>(n + 127) << 23));
}

// ln 2 split so that n * kLn2Hi is exact for |n| < 512 (Cody-Waite range reduction).
constexpr float kLn2Hi = 0.693145751953125f;
constexpr float kLn2Lo = 1.428606765330187e-6f;
constexpr float kLog2E = 1.4426950408889634f;
// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer.
constexpr float kRoundMagic = 12582912.0f;

// exp(x) - 1 = 2^n * (1 + p) - 1 after reducing x = n ln2 + r with |r| <= ln2 / 2; p = expm1(r)
// by its Taylor series to r^8 / 8! (truncation error below 2e-9 relative).
LDM_INLINE float ExpM1Reduced(float x, int32_t& n) {
  const float nf = (x * kLog2E + kRoundMagic) - kRoundMagic;
  n = static_cast<int32_t>(nf);
  const float r = (x - nf * kLn2Hi) - nf * kLn2Lo;
  float p = 1.0f / 40320;
  p = p * r + 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  return (p * r) * r + r;
}

// exp(x): 0 below -104 (under the smallest subnormal), inf above 88.73, NaN for NaN.
LDM_INLINE float ExpF(float x) {
  // Clamp first so that n fits the exponent arithmetic (NaN becomes -110 here, restored below).
  const float xc = x > -110.0f ? (x < 100.0f ? x : 100.0f) : -110.0f;
  int32_t n;
  const float p = ExpM1Reduced(xc, n) + 1.0f;
  // Scale by 2^n in two factors so that results in the subnormal range and just below
  // overflow are both reached without an out-of-range exponent.
  const int32_t half = n >> 1;
  const float result = p * PowerOfTwo(half) * PowerOfTwo(n - half);
  return x == x ? result : x;
}

// expm1(x) for 0 <= x <= 30 (the range tanh needs), accurate near 0 where exp(x) - 1 cancels.
LDM_INLINE float ExpM1Positive(float x) {
  int32_t n;
  const float p = ExpM1Reduced(x, n);
  const float scale = PowerOfTwo(n);
  return p * scale + (scale - 1.0f);
}

// Natural logarithm. x = 2^e * m with m in [sqrt(1/2), sqrt(2)) and f = m - 1 (exact);
// log(1 + f) = 2 atanh(s) with s = f / (2 + f), written as f - s (f - 2W) so that the
// leading term f carries no rounding (W = s^2/3 + s^4/5 + s^6/7 + s^8/9, |s| < 0.172).
LDM_INLINE float LogF(float x) {
  const bool subnormal = x < std::numeric_limits<float>::min();
  const float scaled = x * 8388608.0f;  // 2^23
  const float xs = subnormal ? scaled : x;
  const int32_t bits = FloatToBits(xs);
  int32_t e = ((bits >> 23) & 0xff) - 127 - (subnormal ? 23 : 0);
  const float m1 = BitsToFloat((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const float halfM1 = m1 * 0.5f;
  const bool high = m1 > 1.41421356f;
  const float m = high ? halfM1 : m1;
  e = high ? e + 1 : e;
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  const float w = z * (1.0f / 3 + z * (1.0f / 5 + z * (1.0f / 7 + z * (1.0f / 9))));
  const float log1pf = f - s * (f - 2.0f * w);
  const float ef = static_cast<float>(e);
  const float result = (ef * kLn2Lo + log1pf) + ef * kLn2Hi;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  // Selects rather than branches, so that the caller's loop stays vectorisable.
  const float special = x == 0.0f ? -kInf : (x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : x);
  return (x > 0.0f) & (x < kInf) ? result : special;
}

// Logistic sigmoid 1 / (1 + exp(-x)), from exp(-|x|) so that it never overflows and keeps
// full relative accuracy for very negative x.
LDM_INLINE float SigmoidF(float x) {
  const float e = ExpF(-std::fabs(x));
  const float s = 1.0f / (1.0f + e);
  const float es = e * s;
  return x >= 0.0f ? s : es;
}

// tanh(x) = expm1(2|x|) / (expm1(2|x|) + 2) with the sign of x; exactly +-1 beyond |x| = 10.
LDM_INLINE float TanhF(float x) {
  const float ax = std::fabs(x);
  const float e = ExpM1Positive(2.0f * (ax > 10.0f ? 10.0f : ax));
  return std::copysign(e / (e + 2.0f), x);
}

// The standard normal density phi(x) = exp(-x^2 / 2) / sqrt(2 pi). x^2 is split into its
// rounded value and the exact rounding error (by fma) because an error of one ulp in x^2
// would become a relative error of x^2 * 6e-8 in the result. Beyond |x| = 20 the density
// is 0 in float; clamping there keeps x^2 finite.
LDM_INLINE float NormalPdfF(float x) {
  const float ax = std::fabs(x) < 20.0f ? std::fabs(x) : 20.0f;
  const float hi = ax * ax;
  const float lo = std::fma(ax, ax, -hi);
  return ExpF(-0.5f * hi) * (1.0f - 0.5f * lo) * 0.398942280401432678f;
}

// Upper tail Q(y) = 1 - Phi(y) for y >= 0 from Mills' ratio: Q(y) = phi(y) * R(y) with
// R(y) = t * S(2t - 1), t = 1 / (1 + 0.3 y), S a degree-10 polynomial fitted to relative
// error 1e-8 over all y >= 0 (weighted least squares on Chebyshev nodes in t).
LDM_INLINE float NormalUpperTailF(float y, float pdf) {
  const float t = 1.0f / (1.0f + 0.3f * y);
  const float u = 2.0f * t - 1.0f;
  float s = -1.152811168e-05f;
  s = s * u - 8.418628715e-05f;
  s = s * u + 2.016018397e-04f;
  s = s * u + 6.840449796e-04f;
  s = s * u - 1.429689676e-03f;
  s = s * u - 6.067262893e-03f;
  s = s * u + 4.551972309e-03f;
  s = s * u + 6.958374204e-02f;
  s = s * u + 2.169479832e-01f;
  s = s * u + 4.125396353e-01f;
  s = s * u + 5.563978145e-01f;
  return pdf * t * s;
}

// The standard normal CDF Phi(x), accurate in relative terms in the lower tail too (where
// 1 + erf(x / sqrt 2) would cancel), given pdf = NormalPdfF(x).
LDM_INLINE float NormalCdfF(float x, float pdf) {
  const float tail = NormalUpperTailF(std::fabs(x), pdf);
  return x < 0.0f ? tail : 1.0f - tail;
}

}  // namespace ldm
