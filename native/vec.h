// Fixed-width float vectors through the GCC/Clang vector extension, for the few loops whose
// shuffles the auto-vectoriser handles badly (the stride-2 tile accesses of winograd.h). The
// compiler maps a Vec16 onto the widest registers the target has (one AVX-512 register, two
// AVX ones, ...), so the code stays portable. Loads and stores are unaligned.
#pragma once

#include <cstdint>
#include <cstring>

// Passing these by value outside an inlined call changes the ABI between -m flags; every use
// here is inline, so the warning says nothing useful.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ldm {

typedef float Vec16 __attribute__((vector_size(64)));
typedef float Vec8 __attribute__((vector_size(32)));

template <typename V>
constexpr int64_t kLanes = sizeof(V) / sizeof(float);

template <typename V>
inline V Load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename V>
inline void Store(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// Even(a, b)[i] = (a ++ b)[2i]; Odd(a, b)[i] = (a ++ b)[2i + 1].
inline Vec16 Even(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
inline Vec16 Odd(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
inline Vec8 Even(Vec8 a, Vec8 b) { return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14); }
inline Vec8 Odd(Vec8 a, Vec8 b) { return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15); }

// The interleaving a0 b0 a1 b1 ..., low half and high half.
inline Vec16 ZipLow(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
inline Vec16 ZipHigh(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
inline Vec8 ZipLow(Vec8 a, Vec8 b) { return __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11); }
inline Vec8 ZipHigh(Vec8 a, Vec8 b) { return __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15); }

}  // namespace ldm

#pragma GCC diagnostic pop
