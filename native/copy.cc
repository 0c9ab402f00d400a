// copyStrided: dst[dstOffset + sum(i * dstStrides)] = src[srcOffset + sum(i * srcStrides)]
// for every index tuple i over `shape`. The one data-movement kernel behind permute,
// slice, concat, pad and expand.
//
// The layout is first simplified (size-1 axes dropped, axes that both sides step through
// as one merged). Then either the innermost axis runs as memcpy / fill / strided loops, or,
// for a transpose (the innermost axis strided on one side while another axis is contiguous
// there), the pair of axes is copied in square tiles so that both sides stay in cache.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace ldm {
namespace {

constexpr int64_t kTransposeTile = 32;

struct Axis {
  int64_t size, src, dst;  // extent and the two element strides
};

std::vector<Axis> Simplify(const std::vector<Axis>& axes) {
  std::vector<Axis> out;
  for (const Axis& a : axes) {
    if (a.size == 1) continue;
    if (!out.empty() && out.back().src == a.src * a.size && out.back().dst == a.dst * a.size) {
      out.back() = Axis{out.back().size * a.size, a.src, a.dst};
    } else {
      out.push_back(a);
    }
  }
  if (out.empty()) out.push_back(Axis{1, 0, 0});
  return out;
}

// Walks the outer axes like an odometer from flat position `first`, keeping both offsets.
struct Odometer {
  const std::vector<Axis>& axes;
  std::vector<int64_t> index;
  int64_t src, dst;

  Odometer(const std::vector<Axis>& outerAxes, int64_t first, int64_t srcBase, int64_t dstBase)
      : axes(outerAxes), index(outerAxes.size(), 0), src(srcBase), dst(dstBase) {
    for (size_t a = axes.size(); a-- > 0;) {
      index[a] = first % axes[a].size;
      first /= axes[a].size;
      src += index[a] * axes[a].src;
      dst += index[a] * axes[a].dst;
    }
  }

  void Next() {
    for (size_t a = axes.size(); a-- > 0;) {
      src += axes[a].src;
      dst += axes[a].dst;
      if (++index[a] < axes[a].size) return;
      src -= axes[a].src * axes[a].size;
      dst -= axes[a].dst * axes[a].size;
      index[a] = 0;
    }
  }
};

void CopyRun(const float* src, float* dst, int64_t len, int64_t srcStride, int64_t dstStride) {
  if (srcStride == 1 && dstStride == 1) {
    std::memcpy(dst, src, sizeof(float) * len);
  } else if (srcStride == 0 && dstStride == 1) {
    std::fill(dst, dst + len, *src);
  } else {
    for (int64_t j = 0; j < len; ++j) dst[j * dstStride] = src[j * srcStride];
  }
}

// Elements [begin, end) in row-major order over all axes, the innermost axis as runs.
void CopyRange(const float* src, float* dst, const std::vector<Axis>& axes, int64_t begin, int64_t end) {
  const Axis inner = axes.back();
  const std::vector<Axis> outer(axes.begin(), axes.end() - 1);
  Odometer it(outer, begin / inner.size, 0, 0);
  int64_t column = begin % inner.size;
  for (int64_t pos = begin; pos < end;) {
    const int64_t len = std::min(inner.size - column, end - pos);
    CopyRun(src + it.src + column * inner.src, dst + it.dst + column * inner.dst, len, inner.src, inner.dst);
    pos += len;
    column = 0;
    it.Next();
  }
}

// Copies rows [a0, a1) of the [a.size, b.size] plane of axes a and b in square tiles.
void CopyTiled(const float* src, float* dst, const Axis& a, const Axis& b, int64_t a0, int64_t a1) {
  for (int64_t b0 = 0; b0 < b.size; b0 += kTransposeTile) {
    const int64_t b1 = std::min(b.size, b0 + kTransposeTile);
    for (int64_t i = a0; i < a1; ++i) {
      const float* s = src + i * a.src;
      float* d = dst + i * a.dst;
      for (int64_t j = b0; j < b1; ++j) d[j * b.dst] = s[j * b.src];
    }
  }
}

// The axis to tile with the innermost one, or -1 for plain runs: worthwhile when the
// innermost axis is strided (not broadcast) on one side and another axis is contiguous there.
int TransposePartner(const std::vector<Axis>& axes) {
  const Axis& last = axes.back();
  if (last.size < 4 || last.src == 0 || last.dst == 0 || (last.src == 1 && last.dst == 1)) return -1;
  for (int a = static_cast<int>(axes.size()) - 2; a >= 0; --a) {
    const bool fills = (last.src != 1 && axes[a].src == 1) || (last.dst != 1 && axes[a].dst == 1);
    if (fills && axes[a].size >= 4) return a;
  }
  return -1;
}

void CopyStrided(const float* src, float* dst, const std::vector<Axis>& layout, int64_t n) {
  const std::vector<Axis> axes = Simplify(layout);
  const int threads = NumThreadsFor(n);
  const int partner = TransposePartner(axes);
  if (partner < 0) {
#pragma omp parallel if (threads > 1) num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      CopyRange(src, dst, axes, n * t / count, n * (t + 1) / count);
    }
    return;
  }
  std::vector<Axis> outer;
  for (int a = 0; a + 1 < static_cast<int>(axes.size()); ++a) {
    if (a != partner) outer.push_back(axes[a]);
  }
  int64_t planes = 1;
  for (const Axis& a : outer) planes *= a.size;
  // Work items: (plane, block of kTransposeTile rows of the partner axis).
  const Axis& rows = axes[partner];
  const int64_t blocks = (rows.size + kTransposeTile - 1) / kTransposeTile;
#pragma omp parallel if (threads > 1) num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
    const int64_t begin = planes * blocks * t / count, end = planes * blocks * (t + 1) / count;
    if (begin < end) {
      Odometer it(outer, begin / blocks, 0, 0);
      for (int64_t item = begin; item < end; ++item) {
        if (item > begin && item % blocks == 0) it.Next();
        const int64_t a0 = item % blocks * kTransposeTile;
        CopyTiled(src + it.src, dst + it.dst, rows, axes.back(), a0, std::min(rows.size, a0 + kTransposeTile));
      }
    }
  }
}

std::vector<int64_t> ArgIntArray(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), "copyStrided: argument " + std::to_string(index) +
                                               " must be a Float64Array");
  }
  Napi::Float64Array a = info[index].As<Napi::Float64Array>();
  return std::vector<int64_t>(a.Data(), a.Data() + a.ElementLength());
}

// Throws unless every element addressed from `offset` with these strides lies in the buffer.
void RequireInside(const Napi::Env& env, const F32& buffer, int64_t offset, const std::vector<Axis>& axes,
                   bool source, const char* name) {
  int64_t lowest = offset, highest = offset;
  for (const Axis& a : axes) {
    const int64_t reach = (a.size - 1) * (source ? a.src : a.dst);
    (reach < 0 ? lowest : highest) += reach;
  }
  if (lowest < 0 || highest >= static_cast<int64_t>(buffer.length)) {
    throw Napi::RangeError::New(env, std::string("copyStrided: ") + name + " elements " + std::to_string(lowest) +
                                         ".." + std::to_string(highest) + " are outside its " +
                                         std::to_string(buffer.length) + " elements");
  }
}

Napi::Value CopyStridedEntry(const Napi::CallbackInfo& info) {
  const char* name = "copyStrided";
  const Napi::Env env = info.Env();
  const F32 src = ArgF32(info, 0, name);
  const int64_t srcOffset = ArgInt(info, 1, name);
  const std::vector<int64_t> srcStrides = ArgIntArray(info, 2);
  const F32 dst = ArgF32(info, 3, name);
  const int64_t dstOffset = ArgInt(info, 4, name);
  const std::vector<int64_t> dstStrides = ArgIntArray(info, 5);
  const std::vector<int64_t> shape = ArgIntArray(info, 6);
  if (srcStrides.size() != shape.size() || dstStrides.size() != shape.size()) {
    throw Napi::RangeError::New(env, "copyStrided: srcStrides, dstStrides and shape must have the same length");
  }
  std::vector<Axis> axes;
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) throw Napi::RangeError::New(env, "copyStrided: negative size in shape");
    axes.push_back(Axis{shape[d], srcStrides[d], dstStrides[d]});
    n *= shape[d];
  }
  if (n == 0) return env.Undefined();
  RequireInside(env, src, srcOffset, axes, true, "src");
  RequireInside(env, dst, dstOffset, axes, false, "dst");
  CopyStrided(src.data + srcOffset, dst.data + dstOffset, axes, n);
  return env.Undefined();
}

}  // namespace

void RegisterCopy(Napi::Env env, Napi::Object exports) {
  exports.Set("copyStrided", Napi::Function::New(env, CopyStridedEntry));
}

}  // namespace ldm
