// Fused multi-head scaled dot-product attention, forward and backward, in the style of
// FlashAttention (Dao et al. 2022; FlashAttention-2, Dao 2023) adapted to CPU caches (a
// single key goes to attention_single_key.h):
// each task takes a block of query rows of one (batch, head) pair and walks the keys in
// blocks, so only a [queryBlock, keyBlock] tile of scores ever exists (per thread, in L2).
// Heads stay packed in the channel axis (see AttentionParams in src/tensor/backend.ts):
// head h of q is the column slice h*d..(h+1)*d with row stride heads*d, which Eigen maps
// with an outer stride, so no permute copies are made.
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention_single_key.h"
#include "common.h"
#include "gemm.h"

namespace ldm {
namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>>;
using ConstStrided = Eigen::Map<const RowMajorMatrix, 0, Eigen::OuterStride<>>;
using ConstTile = Eigen::Map<const RowMajorMatrix>;
// A score row padded to whole 64-byte packets, so Eigen's exp runs on packets only (an
// unaligned map peels its head and tail into scalar expf calls: ~4% of the forward).
using PaddedRow = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;

// Query rows per task and keys per tile, tuned on the 2-core Xeon at LDM shapes: a larger
// query block repacks K and V (Eigen packs GEMM operands per call) fewer times; 256 x 512
// scores (512 KiB, two such tiles in the backward) still sit in a 2 MiB L2.
constexpr int64_t kQueryBlock = 256;
constexpr int64_t kKeyBlock = 512;
constexpr int64_t kPacket = 16;  // floats per AVX-512 register

int64_t PaddedWidth(int64_t cols) { return (cols + kPacket - 1) / kPacket * kPacket; }

// A [rows, cols] tile of a per-thread scratch whose rows are PaddedWidth(cols) apart.
Strided TileOf(RowMajorMatrix& scratch, int64_t rows, int64_t cols) {
  return Strided(scratch.data(), rows, cols, Eigen::OuterStride<>(PaddedWidth(cols)));
}

// Row r of a tile as whole packets; the padding is set to -inf, which exp turns into 0.
PaddedRow PaddedRowOf(RowMajorMatrix& scratch, int64_t r, int64_t cols) {
  const int64_t width = PaddedWidth(cols);
  float* row = scratch.data() + r * width;
  std::fill(row + cols, row + width, -std::numeric_limits<float>::infinity());
  return PaddedRow(row, width);
}

struct AttentionShape {
  int64_t batch, heads, tq, tk, d, dv;
  float scale;

  int64_t pairs() const { return batch * heads; }
  int64_t queryBlocks() const { return (tq + kQueryBlock - 1) / kQueryBlock; }
};

// Params arrive packed as a Float64Array in the order of packAttentionParams (native.ts).
AttentionShape ArgAttentionShape(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      value.As<Napi::Float64Array>().ElementLength() < 7) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument " + std::to_string(index) +
                                               " must be a Float64Array of 7 attention params");
  }
  const double* p = value.As<Napi::Float64Array>().Data();
  AttentionShape s{static_cast<int64_t>(p[0]), static_cast<int64_t>(p[1]), static_cast<int64_t>(p[2]),
                   static_cast<int64_t>(p[3]), static_cast<int64_t>(p[4]), static_cast<int64_t>(p[5]),
                   static_cast<float>(p[6])};
  if (s.batch < 0 || s.heads < 0 || s.tq < 0 || s.tk < 0 || s.d < 0 || s.dv < 0) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": attention sizes must be non-negative");
  }
  return s;
}

// The slices of one (batch, head) pair inside the packed buffers.
struct HeadViews {
  const float* q;  // [tq, d], row stride heads*d
  const float* k;  // [tk, d], row stride heads*d
  const float* v;  // [tk, dv], row stride heads*dv
  int64_t qkStride, vStride;
  int64_t b, h;
};

HeadViews ViewsOf(const AttentionShape& s, int64_t pair, const float* q, const float* k, const float* v) {
  int64_t b = pair / s.heads, h = pair % s.heads;
  int64_t qkStride = s.heads * s.d, vStride = s.heads * s.dv;
  return HeadViews{q + b * s.tq * qkStride + h * s.d, k + b * s.tk * qkStride + h * s.d,
                   v + b * s.tk * vStride + h * s.dv, qkStride, vStride, b, h};
}

// Forward for query rows [row0, row0 + rows) of one pair, with an online softmax over key
// tiles: running row max m and sum l, and the output rescaled by exp(mOld - mNew) whenever
// the max grows. The output slice itself is the accumulator.
void ForwardBlock(const AttentionShape& s, const HeadViews& hv, int64_t row0, int64_t rows, float* out,
                  float* lse, RowMajorMatrix& scores, float* rowMax, float* rowSum) {
  const float* q = hv.q + row0 * hv.qkStride;
  float* o = out + row0 * hv.vStride;
  Strided oView(o, rows, s.dv, Eigen::OuterStride<>(hv.vStride));
  std::fill(rowMax, rowMax + rows, -std::numeric_limits<float>::infinity());
  std::fill(rowSum, rowSum + rows, 0.0f);

  for (int64_t key0 = 0; key0 < s.tk; key0 += kKeyBlock) {
    int64_t cols = std::min(kKeyBlock, s.tk - key0);
    const int64_t ldp = PaddedWidth(cols);
    GemmSerial(rows, cols, s.d, q, hv.qkStride, false, hv.k + key0 * hv.qkStride, hv.qkStride, true, scores.data(),
               ldp, false);
    for (int64_t r = 0; r < rows; r++) {
      PaddedRow row = PaddedRowOf(scores, r, cols);
      row.head(cols) *= s.scale;
      float newMax = std::max(rowMax[r], row.maxCoeff());
      row = (row - newMax).exp();
      float rescale = std::exp(rowMax[r] - newMax);  // 0 on the first tile
      rowSum[r] = rowSum[r] * rescale + row.sum();
      rowMax[r] = newMax;
      if (key0 > 0) oView.row(r) *= rescale;
    }
    GemmSerial(rows, s.dv, cols, scores.data(), ldp, false, hv.v + key0 * hv.vStride, hv.vStride, false, o,
               hv.vStride, key0 > 0);
  }
  for (int64_t r = 0; r < rows; r++) {
    oView.row(r) *= 1.0f / rowSum[r];
    lse[row0 + r] = rowMax[r] + std::log(rowSum[r]);
  }
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  const char* op = "attention";
  Napi::Env env = info.Env();
  F32 q = ArgF32(info, 0, op), k = ArgF32(info, 1, op), v = ArgF32(info, 2, op);
  F32 out = ArgF32(info, 3, op), lse = ArgF32(info, 4, op);
  AttentionShape s = ArgAttentionShape(info, 5, op);
  RequireLength(env, q, s.batch * s.tq * s.heads * s.d, op, "q");
  RequireLength(env, k, s.batch * s.tk * s.heads * s.d, op, "k");
  RequireLength(env, v, s.batch * s.tk * s.heads * s.dv, op, "v");
  RequireLength(env, out, s.batch * s.tq * s.heads * s.dv, op, "out");
  RequireLength(env, lse, s.batch * s.heads * s.tq, op, "lse");
  if (s.tq == 0 || s.pairs() == 0) return env.Undefined();
  if (s.tk == 0) {
    // softmax over no keys: an empty sum, so out = 0 and lse = -inf.
    std::fill(out.data, out.data + s.batch * s.tq * s.heads * s.dv, 0.0f);
    std::fill(lse.data, lse.data + s.batch * s.heads * s.tq, -std::numeric_limits<float>::infinity());
    return env.Undefined();
  }

  const int threads = NumThreadsFor(s.pairs() * s.tq * s.tk * (s.d + s.dv));
  if (s.tk == 1) {
    single_key::Forward(s.batch, s.heads, s.tq, s.d, s.dv, s.scale, q.data, k.data, v.data, out.data, lse.data,
                        threads);
    return env.Undefined();
  }
  const int64_t blocks = s.queryBlocks(), tasks = s.pairs() * blocks;
  const int64_t keyTile = std::min(kKeyBlock, s.tk);
#pragma omp parallel num_threads(threads)
  {
    RowMajorMatrix scores(kQueryBlock, PaddedWidth(keyTile));
    std::vector<float> rowMax(kQueryBlock), rowSum(kQueryBlock);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; task++) {
      int64_t pair = task / blocks, row0 = (task % blocks) * kQueryBlock;
      HeadViews hv = ViewsOf(s, pair, q.data, k.data, v.data);
      float* outHead = out.data + hv.b * s.tq * hv.vStride + hv.h * s.dv;
      ForwardBlock(s, hv, row0, std::min(kQueryBlock, s.tq - row0), outHead, lse.data + pair * s.tq, scores,
                   rowMax.data(), rowSum.data());
    }
  }
  return env.Undefined();
}

// Backward buffers of one pair: gradients of its q rows (strided into gq), and accumulators
// for its k and v gradients (strided into gk/gv, or a private partial when the query rows
// of the pair are split over several tasks).
struct GradTargets {
  const float* out;  // [tq, dv] slice, row stride vStride
  const float* gOut;
  const float* lse;  // [tq]
  float* gq;         // [tq, d] slice, row stride qkStride
  float* gk;         // [tk, d], row stride gkStride
  float* gv;         // [tk, dv], row stride gvStride
  int64_t gkStride, gvStride;
};

// Backward for query rows [row0, row0 + rows) of one pair (FlashAttention-2, Algorithm 2):
// P = exp(scale * q k^T - lse), D = rowsum(gOut * out), dP = gOut v^T, dS = P * (dP - D),
// gq = scale dS k, gk += scale dS^T q, gv += P^T gOut. scale is folded into dS.
void BackwardBlock(const AttentionShape& s, const HeadViews& hv, GradTargets& g, int64_t row0, int64_t rows,
                   RowMajorMatrix& probs, RowMajorMatrix& dProbs, float* rowDelta) {
  const float* q = hv.q + row0 * hv.qkStride;
  const float* gOutRows = g.gOut + row0 * hv.vStride;
  float* gq = g.gq + row0 * hv.qkStride;
  ConstStrided o(g.out + row0 * hv.vStride, rows, s.dv, Eigen::OuterStride<>(hv.vStride));
  ConstStrided gOut(gOutRows, rows, s.dv, Eigen::OuterStride<>(hv.vStride));
  for (int64_t r = 0; r < rows; r++) rowDelta[r] = gOut.row(r).dot(o.row(r));

  for (int64_t key0 = 0; key0 < s.tk; key0 += kKeyBlock) {
    int64_t cols = std::min(kKeyBlock, s.tk - key0);
    const int64_t ldp = PaddedWidth(cols);
    const float* k = hv.k + key0 * hv.qkStride;
    const float* v = hv.v + key0 * hv.vStride;
    GemmSerial(rows, cols, s.d, q, hv.qkStride, false, k, hv.qkStride, true, probs.data(), ldp, false);
    GemmSerial(rows, cols, s.dv, gOutRows, hv.vStride, false, v, hv.vStride, true, dProbs.data(), ldp, false);
    for (int64_t r = 0; r < rows; r++) {
      PaddedRow pRow = PaddedRowOf(probs, r, cols), dRow = PaddedRowOf(dProbs, r, cols);
      pRow.head(cols) *= s.scale;
      pRow = (pRow - g.lse[row0 + r]).exp();
      dRow = pRow * (dRow - rowDelta[r]) * s.scale;
    }
    // gq (+)= dS k, gk += dS^T q, gv += P^T gOut.
    GemmSerial(rows, s.d, cols, dProbs.data(), ldp, false, k, hv.qkStride, false, gq, hv.qkStride, key0 > 0);
    GemmSerial(cols, s.d, rows, dProbs.data(), ldp, true, q, hv.qkStride, false, g.gk + key0 * g.gkStride,
               g.gkStride, true);
    GemmSerial(cols, s.dv, rows, probs.data(), ldp, true, gOutRows, hv.vStride, false, g.gv + key0 * g.gvStride,
               g.gvStride, true);
  }
}

Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  const char* op = "attentionGrad";
  Napi::Env env = info.Env();
  F32 q = ArgF32(info, 0, op), k = ArgF32(info, 1, op), v = ArgF32(info, 2, op);
  F32 out = ArgF32(info, 3, op), lse = ArgF32(info, 4, op), gOut = ArgF32(info, 5, op);
  F32 gq = ArgF32(info, 6, op), gk = ArgF32(info, 7, op), gv = ArgF32(info, 8, op);
  AttentionShape s = ArgAttentionShape(info, 9, op);
  const int64_t qSize = s.batch * s.tq * s.heads * s.d, kSize = s.batch * s.tk * s.heads * s.d;
  const int64_t vSize = s.batch * s.tk * s.heads * s.dv, outSize = s.batch * s.tq * s.heads * s.dv;
  RequireLength(env, q, qSize, op, "q");
  RequireLength(env, k, kSize, op, "k");
  RequireLength(env, v, vSize, op, "v");
  RequireLength(env, out, outSize, op, "out");
  RequireLength(env, lse, s.batch * s.heads * s.tq, op, "lse");
  RequireLength(env, gOut, outSize, op, "gOut");
  RequireLength(env, gq, qSize, op, "gq");
  RequireLength(env, gk, kSize, op, "gk");
  RequireLength(env, gv, vSize, op, "gv");
  if (s.tq == 0 || s.tk == 0 || s.pairs() == 0) {
    std::fill(gq.data, gq.data + qSize, 0.0f);
    std::fill(gk.data, gk.data + kSize, 0.0f);
    std::fill(gv.data, gv.data + vSize, 0.0f);
    return env.Undefined();
  }

  // Each task owns one pair's gq rows for its query range. When the pairs share out evenly
  // over the threads, a task takes a whole pair and accumulates gk/gv in place; otherwise
  // (one pair, or 3 pairs on 2 threads) each pair's query blocks are split into about
  // 4 * threads tasks, each summing into a private partial that is reduced after, so no
  // two threads ever add into the same gk/gv element.
  const int threads = NumThreadsFor(s.pairs() * s.tq * s.tk * (2 * s.d + 3 * s.dv));
  if (s.tk == 1) {
    single_key::Backward(s.batch, s.heads, s.tq, s.d, s.dv, lse.data, gOut.data, gq.data, gk.data, gv.data, threads);
    return env.Undefined();
  }
  const int64_t blocks = s.queryBlocks();
  const bool evenShare = s.pairs() % threads == 0 || s.pairs() >= 4 * threads;
  const int64_t splits = evenShare ? 1 : std::min(blocks, (4 * threads + s.pairs() - 1) / s.pairs());
  const int64_t blocksPerSplit = (blocks + splits - 1) / splits, tasks = s.pairs() * splits;
  const int64_t partialSize = s.tk * (s.d + s.dv);
  std::vector<float> partials(splits > 1 ? tasks * partialSize : 0);
  const int64_t keyTile = std::min(kKeyBlock, s.tk);

#pragma omp parallel num_threads(threads)
  {
    RowMajorMatrix probs(kQueryBlock, PaddedWidth(keyTile)), dProbs(kQueryBlock, PaddedWidth(keyTile));
    std::vector<float> rowDelta(kQueryBlock);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; task++) {
      int64_t pair = task / splits, split = task % splits;
      HeadViews hv = ViewsOf(s, pair, q.data, k.data, v.data);
      int64_t outOffset = hv.b * s.tq * hv.vStride + hv.h * s.dv;
      float* gkTarget = gk.data + (hv.k - k.data);
      float* gvTarget = gv.data + (hv.v - v.data);
      int64_t gkStride = hv.qkStride, gvStride = hv.vStride;
      if (splits > 1) {
        gkTarget = partials.data() + task * partialSize;
        gvTarget = gkTarget + s.tk * s.d;
        gkStride = s.d;
        gvStride = s.dv;
      }
      GradTargets g{out.data + outOffset, gOut.data + outOffset, lse.data + pair * s.tq, gq.data + (hv.q - q.data),
                    gkTarget, gvTarget, gkStride, gvStride};
      Strided(gkTarget, s.tk, s.d, Eigen::OuterStride<>(gkStride)).setZero();
      Strided(gvTarget, s.tk, s.dv, Eigen::OuterStride<>(gvStride)).setZero();
      int64_t firstBlock = split * blocksPerSplit, lastBlock = std::min(blocks, firstBlock + blocksPerSplit);
      for (int64_t block = firstBlock; block < lastBlock; block++) {
        int64_t row0 = block * kQueryBlock;
        BackwardBlock(s, hv, g, row0, std::min(kQueryBlock, s.tq - row0), probs, dProbs, rowDelta.data());
      }
    }

    if (splits > 1) {
      // Sum the splits' partials of each pair into its gk/gv slices.
#pragma omp for
      for (int64_t pair = 0; pair < s.pairs(); pair++) {
        HeadViews hv = ViewsOf(s, pair, q.data, k.data, v.data);
        Strided gkHead(gk.data + (hv.k - k.data), s.tk, s.d, Eigen::OuterStride<>(hv.qkStride));
        Strided gvHead(gv.data + (hv.v - v.data), s.tk, s.dv, Eigen::OuterStride<>(hv.vStride));
        gkHead.setZero();
        gvHead.setZero();
        for (int64_t split = 0; split < splits; split++) {
          const float* partial = partials.data() + (pair * splits + split) * partialSize;
          gkHead += ConstTile(partial, s.tk, s.d);
          gvHead += ConstTile(partial + s.tk * s.d, s.tk, s.dv);
        }
      }
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad));
}

}  // namespace ldm
