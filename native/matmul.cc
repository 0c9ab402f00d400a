// Batched matrix product (see MatmulParams in src/tensor/backend.ts) and the serial GEMM
// that every kernel shares (gemm.h).
//
// Threading: the work list is batch x panels, where one matrix is cut into panels along
// the larger of m and n. Panels are only cut when the batch alone would leave a thread idle,
// since each panel re-packs the operand it shares with its siblings. Items are handed out
// dynamically, so a thread the OS preempts does not hold the others up; every item computes
// the same bits whichever thread runs it. (The same holds for the conv kernels, except the
// Winograd grad weight, whose per-thread partial sums need a fixed split to stay bitwise
// reproducible.)
#include <algorithm>

#include "common.h"
#include "gemm.h"
#include "gemm_blocked.h"
#include "scratch.h"
#include "vec.h"

namespace ldm {
namespace {

// GemmInPlace's register tile: kRows rows of C by 32 columns (two Vec16) of accumulators.
// With AVX-512 that is 16 of the 32 registers; with AVX2 a Vec16 takes two of the 16, so
// three rows (12 registers) leave room for the two loaded from B.
#if defined(__AVX512F__)
constexpr int kRows = 8;
#else
constexpr int kRows = 3;
#endif
// Rows of B consumed per pass over C, so that a 32-column strip of B stays in L1.
constexpr int64_t kDepth = 128;

// c[r, 0:32] (+)= sum_l a[r, l] b[l, 0:32] for r < Rows, l < depth.
template <int Rows>
void InPlaceTile(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t depth,
                 bool accumulate) {
  Vec16 sum[Rows][2] = {};
  if (accumulate) {
    for (int r = 0; r < Rows; r++) sum[r][0] = Load<Vec16>(c + r * ldc), sum[r][1] = Load<Vec16>(c + r * ldc + 16);
  }
  for (int64_t l = 0; l < depth; l++) {
    const Vec16 b0 = Load<Vec16>(b + l * ldb), b1 = Load<Vec16>(b + l * ldb + 16);
    for (int r = 0; r < Rows; r++) {
      const float scale = a[r * lda + l];
      sum[r][0] += scale * b0;
      sum[r][1] += scale * b1;
    }
  }
  for (int r = 0; r < Rows; r++) Store(c + r * ldc, sum[r][0]), Store(c + r * ldc + 16, sum[r][1]);
}

// Panels narrower than this waste the micro-kernel's register tile and re-pack too often.
constexpr int64_t kMinMatmulPanel = 64;

// Depth of one slice when a product is cut along k (see SplitDepthProduct).
constexpr int64_t kSplitDepth = 512;

// A product whose m x n is too small to cut into panels for every thread, but deep (weight
// gradients: [32, 4096] @ [4096, 32] and the like), cut instead into k slices of kSplitDepth
// whose partial products are summed. The slices depend on k alone, and the sum runs in slice
// order, so the result has the same bits on any number of threads.
void SplitDepthProduct(int64_t batch, int64_t m, int64_t n, int64_t k, const float* a, int64_t aBatchStride,
                       bool transA, const float* b, int64_t bBatchStride, bool transB, const float* bias, float* out,
                       int threads) {
  const int64_t slices = k / kSplitDepth;
  const int64_t lda = transA ? m : k, ldb = transB ? k : n, size = m * n;
  float* partial = ThreadScratch(Scratch::kPartialSums, batch * slices * size);
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < batch * slices; item++) {
      const int64_t index = item / slices, slice = item % slices;
      const int64_t k0 = PanelStart(k, slices, slice, 16), depth = PanelStart(k, slices, slice + 1, 16) - k0;
      // Columns k0.. of op(A) and rows k0.. of op(B), in the stored layouts.
      const float* aSlice = a + index * aBatchStride + (transA ? k0 * lda : k0);
      const float* bSlice = b + index * bBatchStride + (transB ? k0 : k0 * ldb);
      GemmSerial(m, n, depth, aSlice, lda, transA, bSlice, ldb, transB, partial + item * size, n, false);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < batch * size; i++) {
      const int64_t index = i / size;
      const float* first = partial + index * slices * size + i % size;
      float total = first[0];
      for (int64_t slice = 1; slice < slices; slice++) total += first[slice * size];
      out[i] = bias != nullptr ? total + bias[i % n] : total;
    }
  }
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  const char* op = "matmul";
  Napi::Env env = info.Env();
  const F32 a = ArgF32(info, 0, op);
  const F32 b = ArgF32(info, 1, op);
  const F32 out = ArgF32(info, 2, op);
  const int64_t batch = ArgInt(info, 3, op);
  const int64_t m = ArgInt(info, 4, op);
  const int64_t n = ArgInt(info, 5, op);
  const int64_t k = ArgInt(info, 6, op);
  const bool transA = ArgBool(info, 7);
  const bool transB = ArgBool(info, 8);
  const int64_t aBatchStride = ArgInt(info, 9, op);
  const int64_t bBatchStride = ArgInt(info, 10, op);
  const float* bias = ArgOptionalF32(info, 11, op);
  if (batch < 0 || m < 0 || n < 0 || k < 0 || aBatchStride < 0 || bBatchStride < 0) {
    throw Napi::RangeError::New(env, "matmul: sizes and batch strides must be non-negative");
  }
  if (static_cast<double>(batch) * std::max({aBatchStride, bBatchStride, m * n}) +
          static_cast<double>(std::max({m, n})) * static_cast<double>(k) >
      9.0e15) {
    throw Napi::RangeError::New(env, "matmul: sizes too large");
  }
  if (batch == 0 || m == 0 || n == 0) return env.Undefined();
  RequireLength(env, a, static_cast<size_t>((batch - 1) * aBatchStride + m * k), op, "a");
  RequireLength(env, b, static_cast<size_t>((batch - 1) * bBatchStride + k * n), op, "b");
  RequireLength(env, out, static_cast<size_t>(batch * m * n), op, "out");
  if (bias != nullptr) RequireLength(env, ArgF32(info, 11, op), static_cast<size_t>(n), op, "bias");

  const double macs = static_cast<double>(batch) * static_cast<double>(m * n) * static_cast<double>(k);
  const int threads = macs < kGemmParallelMacs ? 1 : omp_get_max_threads();
  // Cut the larger output dimension so that the operand every panel re-packs is the smaller.
  const bool splitRows = m > n;
  const int64_t extent = splitRows ? m : n;
  const int64_t panels = threads == 1 ? 1 : PanelCount(batch, extent, threads, kMinMatmulPanel, extent);
  if (threads > 1 && batch * panels < threads && k >= 2 * kSplitDepth) {
    SplitDepthProduct(batch, m, n, k, a.data, aBatchStride, transA, b.data, bBatchStride, transB, bias, out.data,
                      threads);
    return env.Undefined();
  }
  const int64_t lda = transA ? m : k;
  const int64_t ldb = transB ? k : n;

  const int workers = static_cast<int>(std::min<int64_t>(threads, batch * panels));
#pragma omp parallel for num_threads(workers) schedule(dynamic)
  for (int64_t item = 0; item < batch * panels; item++) {
    const int64_t index = item / panels;
    const int64_t panel = item % panels;
    const int64_t start = PanelStart(extent, panels, panel, 16);
    const int64_t size = PanelStart(extent, panels, panel + 1, 16) - start;
    if (size == 0) continue;
    const float* aMatrix = a.data + index * aBatchStride;
    const float* bMatrix = b.data + index * bBatchStride;
    float* cMatrix = out.data + index * m * n;
    if (splitRows) {
      // Rows start..start+size of op(A): row offset in A, or column offset in stored A^T.
      const float* aPanel = aMatrix + (transA ? start : start * lda);
      GemmSerial(size, n, k, aPanel, lda, transA, bMatrix, ldb, transB, cMatrix + start * n, n, false, bias);
    } else {
      // Columns start..start+size of op(B): column offset in B, or row offset in stored B^T.
      const float* bPanel = bMatrix + (transB ? start * ldb : start);
      GemmSerial(m, size, k, aMatrix, lda, transA, bPanel, ldb, transB, cMatrix + start, n, false,
                 bias != nullptr ? bias + start : nullptr);
    }
  }
  return env.Undefined();
}

}  // namespace

void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool transA, const float* b,
                int64_t ldb, bool transB, float* c, int64_t ldc, bool accumulate, const float* bias) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; i++) {
      float* row = c + i * ldc;
      if (!accumulate) std::fill(row, row + n, 0.0f);
      for (int64_t j = 0; j < n && bias != nullptr; j++) row[j] += bias[j];
    }
    return;
  }
  gemm::Blocked(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate, bias);
}

void GemmInPlace(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc) {
  if (k == 0) {
    for (int64_t i = 0; i < m; i++) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  for (int64_t l0 = 0; l0 < k; l0 += kDepth) {
    const int64_t depth = std::min(kDepth, k - l0);
    const bool accumulate = l0 > 0;
    for (int64_t j = 0; j < n; j += kGemmInPlaceColumns) {
      const float* bStrip = b + l0 * ldb + j;
      int64_t i = 0;
      for (; i + kRows <= m; i += kRows) {
        InPlaceTile<kRows>(a + i * lda + l0, lda, bStrip, ldb, c + i * ldc + j, ldc, depth, accumulate);
      }
      for (; i < m; i++) InPlaceTile<1>(a + i * lda + l0, lda, bStrip, ldb, c + i * ldc + j, ldc, depth, accumulate);
    }
  }
}

int64_t PanelCount(int64_t units, int64_t extent, int threads, int64_t minPanel, int64_t maxPanel) {
  if (units <= 0 || extent <= 0) return 1;
  const int64_t mostPanels = std::max<int64_t>(1, extent / std::max<int64_t>(1, minPanel));
  int64_t panels = std::min(mostPanels, (extent + maxPanel - 1) / std::max<int64_t>(1, maxPanel));
  panels = std::max<int64_t>(1, panels);
  // A short work list must divide evenly over the threads; a long one balances itself.
  while ((units * panels) % threads != 0 && units * panels < 4 * threads && panels < mostPanels) panels++;
  return panels;
}

int64_t PanelStart(int64_t extent, int64_t panels, int64_t index, int64_t align) {
  if (index >= panels) return extent;
  const int64_t even = extent * index / panels;
  return std::min(extent, (even + align / 2) / align * align);
}

void RegisterMatmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul));
}

}  // namespace ldm
