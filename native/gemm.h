// Row-major single-precision GEMM shared by the kernels (matmul, conv2d). GemmSerial runs a
// blocked, register-tiled kernel (gemm_blocked.h); GemmInPlace is a small register-blocked
// kernel for products whose right operand is already laid out for it. Both are serial: all
// threading is the callers', who cut their work into independent panels and run one serial
// GEMM per panel inside an OpenMP loop.
#pragma once

#include <cstdint>

namespace ldm {

// C[m, n] = op(A) @ op(B), or C += op(A) @ op(B) when `accumulate`, on the calling thread.
// Matrices are row-major with row strides lda/ldb/ldc. op(A) is [m, k]: A is stored [m, k],
// or [k, m] when transA. op(B) is [k, n]: B is stored [k, n], or [n, k] when transB.
// A non-null `bias` ([n]) is added to every row of C.
void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool transA, const float* b,
                int64_t ldb, bool transB, float* c, int64_t ldc, bool accumulate, const float* bias = nullptr);

// C[m, n] = A[m, k] @ B[k, n], all row-major and not transposed, on the calling thread, with
// a register-blocked kernel that reads B in place instead of packing it (as GemmSerial does
// on every call). It pays when B is produced right before in this layout and the product is
// small: the Winograd tile products. Columns are computed 32 at a time, so b and c must
// have kGemmInPlaceColumns-rounded rows: columns up to RoundUp(n, 32) are read and written.
constexpr int64_t kGemmInPlaceColumns = 32;
void GemmInPlace(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc);

// Below this many multiply-adds (about 20 us on one core) a product runs on one thread:
// waking the pool and re-packing shared operands would eat the gain.
constexpr int64_t kGemmParallelMacs = int64_t{1} << 20;

// How many panels to cut a dimension of `extent` into when `units` independent work items
// each own one such dimension. Enough panels that the total keeps every thread equally busy
// (a multiple of `threads`) and no panel exceeds `maxPanel`; never a panel under `minPanel`
// unless the extent itself is smaller.
int64_t PanelCount(int64_t units, int64_t extent, int threads, int64_t minPanel, int64_t maxPanel);

// Start of panel `index` when `extent` is cut into `panels` near-equal panels whose
// boundaries fall on multiples of `align` (the last panel takes the remainder).
int64_t PanelStart(int64_t extent, int64_t panels, int64_t index, int64_t align);

}  // namespace ldm
