// Scratch buffers for the kernels, one set per thread, kept for the life of the thread (the
// OpenMP pool's threads live as long as the process) and grown to the largest request. A
// training loop then maps no fresh pages for each kernel call, and its memory stays flat
// after the first step; the price is that the largest request's scratch stays resident.
#pragma once

#include <cstdint>
#include <vector>

namespace ldm {

// One buffer per use, so that a kernel can hold several at once.
enum class Scratch { kColumns, kWeights, kPartialSums, kTransformed, kProducts, kRows, kGemmA, kGemmB, kCount };

// `floats` floats of this thread's `slot` buffer, starting on a 64-byte cache line (vector
// stores into it then never straddle two lines). Valid until the next call for that slot.
inline float* ThreadScratch(Scratch slot, int64_t floats) {
  thread_local std::vector<float> buffers[static_cast<int>(Scratch::kCount)];
  std::vector<float>& buffer = buffers[static_cast<int>(slot)];
  if (buffer.size() < static_cast<size_t>(floats) + 16) buffer.resize(static_cast<size_t>(floats) + 16);
  const uintptr_t address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64) / sizeof(float);
}

}  // namespace ldm
