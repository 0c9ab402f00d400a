// 2-D convolution forward and backward (see Conv2dParams in src/tensor/backend.ts). The 3x3,
// stride-1, undilated convolutions with at least 16 channels per group go to Winograd
// F(2x2, 3x3) (winograd.h, winograd_grad_weight.h; maps up to 8 wide to winograd_narrow.h,
// winograd_narrow_grad_weight.h); pointwise ones on images of up to 32 pixels to products over
// the whole batch (conv_pointwise.h); the others on small images (outputs up to 8x8) to
// im2col + GEMM over several images at once (conv_batched.h); every other one is
// im2col + GEMM per image and group (im2col.h):
//   forward      out[co, p]  = sum_r W[co, r] col[r, p]          (r runs over ci, ky, kx)
//   grad input   gcol[r, p]  = sum_co W[co, r] gy[co, p], then col2im sums gcol into gx
//   grad weight  gW[co, r]  += sum_p gy[co, p] col[r, p]         (summed over images)
// A 1x1, stride-1, unpadded convolution needs no im2col: x itself is the column matrix.
//
// Threading: each im2col kernel cuts its work into independent items, each with its own
// scratch panel sized to stay in L2, and runs one serial GEMM per item:
//   forward: (image, group, pixel panel); grad input: (image, group, input-channel panel),
//   so col2im of different items never touches the same gx element; grad weight:
//   (group, input-channel panel, output-channel panel), each looping over the images, so
//   every item owns its slice of gW and no reduction across threads is needed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common.h"
#include "conv_batched.h"
#include "conv_pointwise.h"
#include "gemm.h"
#include "im2col.h"
#include "scratch.h"
#include "winograd.h"
#include "winograd_grad_weight.h"
#include "winograd_narrow.h"
#include "winograd_narrow_grad_weight.h"

namespace ldm {
namespace {

ConvShape ReadShape(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Napi::Env env = info.Env();
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      v.As<Napi::Float64Array>().ElementLength() < 16) {
    throw Napi::TypeError::New(env, std::string(op) + ": params must be a Float64Array of 16 values");
  }
  const double* p = v.As<Napi::Float64Array>().Data();
  for (int i = 0; i < 16; i++) {
    if (!(p[i] >= 0 && p[i] <= 9.0e15) || p[i] != std::floor(p[i])) {
      throw Napi::RangeError::New(env, std::string(op) + ": params[" + std::to_string(i) +
                                           "] must be a non-negative integer, got " + std::to_string(p[i]));
    }
  }
  const auto at = [&](int i) { return static_cast<int64_t>(p[i]); };
  ConvShape s{at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7),
              at(8), at(9), at(10), at(11), at(12), at(13), at(14), at(15)};
  if (s.kh < 1 || s.kw < 1 || s.strideH < 1 || s.strideW < 1 || s.dilationH < 1 || s.dilationW < 1 ||
      s.groups < 1 || s.cIn % s.groups != 0 || s.cOut % s.groups != 0) {
    throw Napi::RangeError::New(env, std::string(op) + ": kernel, stride and dilation must be >= 1 and groups " +
                                         "must divide cIn (" + std::to_string(s.cIn) + ") and cOut (" +
                                         std::to_string(s.cOut) + ")");
  }
  // Element counts are formed in int64 below; refuse sizes whose products could overflow it.
  const double largest = std::max({p[0] * p[1] * p[2] * p[3], p[4] * p[1] * p[5] * p[6],
                                   p[0] * p[4] * p[14] * p[15] * p[1] * p[5] * p[6]});
  if (largest > 9.0e15) {
    throw Napi::RangeError::New(env, std::string(op) + ": sizes too large");
  }
  return s;
}

// Number of threads for a kernel of `macs` multiply-adds.
int ThreadsFor(int64_t macs) { return macs < kGemmParallelMacs ? 1 : omp_get_max_threads(); }

// Scratch per thread: this many floats (1 MiB) keeps a column panel in L2 with room for
// the GEMM's packed blocks.
constexpr int64_t kScratchFloats = int64_t{1} << 18;

// Winograd pays off once both channel counts fill GEMM panels; thin convolutions (the RGB
// input layer, depthwise) stay on im2col.
constexpr int64_t kWinogradMinChannels = 16;

bool UseWinograd(const ConvShape& s) {
  return s.kh == 3 && s.kw == 3 && s.strideH == 1 && s.strideW == 1 && s.dilationH == 1 && s.dilationW == 1 &&
         s.InPerGroup() >= kWinogradMinChannels && s.OutPerGroup() >= kWinogradMinChannels;
}

winograd::Shape ForwardShape(const ConvShape& s) {
  return {s.n, s.cIn, s.h, s.w, s.cOut, s.padTop, s.padLeft, s.groups, s.outH, s.outW};
}

// The grad input of a 3x3 stride-1 convolution is a 3x3 stride-1 convolution of gy with
// the flipped kernels, channels swapped, and padding 2 - pad on the leading sides.
winograd::Shape GradInputShape(const ConvShape& s) {
  return {s.n, s.cOut, s.outH, s.outW, s.cIn, 2 - s.padTop, 2 - s.padLeft, s.groups, s.h, s.w};
}

// Widest panel when `extent` is cut into `panels` (see PanelStart).
int64_t WidestPanel(int64_t extent, int64_t panels, int64_t align) {
  int64_t widest = 0;
  for (int64_t i = 0; i < panels; i++) {
    widest = std::max(widest, PanelStart(extent, panels, i + 1, align) - PanelStart(extent, panels, i, align));
  }
  return widest;
}

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const char* op = "conv2d";
  Napi::Env env = info.Env();
  const F32 x = ArgF32(info, 0, op);
  const F32 weight = ArgF32(info, 1, op);
  const float* bias = ArgOptionalF32(info, 2, op);
  const F32 out = ArgF32(info, 3, op);
  const ConvShape s = ReadShape(info, 4, op);
  RequireLength(env, x, static_cast<size_t>(s.n * s.cIn * s.Plane()), op, "x");
  RequireLength(env, weight, static_cast<size_t>(s.cOut * s.ColRows()), op, "weight");
  if (bias != nullptr) RequireLength(env, ArgF32(info, 2, op), static_cast<size_t>(s.cOut), op, "bias");
  RequireLength(env, out, static_cast<size_t>(s.n * s.cOut * s.Pixels()), op, "out");

  const int threads = ThreadsFor(s.Macs());
  if (pointwise::Applies(s)) {
    pointwise::Forward(s, x.data, weight.data, bias, out.data, threads);
    return env.Undefined();
  }
  if (batched::Applies(s, UseWinograd(s))) {
    batched::Forward(s, x.data, weight.data, bias, out.data, threads);
    return env.Undefined();
  }
  if (UseWinograd(s)) {
    const winograd::Shape shape = ForwardShape(s);
    if (winograd::narrow::Prefers(shape)) {
      float* u = ThreadScratch(Scratch::kWeights, winograd::narrow::WeightsSize(shape));
      winograd::narrow::TransformWeights(shape, weight.data, false, u, threads);
      winograd::narrow::Forward(shape, x.data, u, bias, out.data, threads);
      return env.Undefined();
    }
    float* u = ThreadScratch(Scratch::kWeights, 16 * s.cOut * s.InPerGroup());
    winograd::TransformWeights(shape, weight.data, false, u, threads);
    winograd::Forward(shape, x.data, u, bias, out.data, threads);
    return env.Undefined();
  }
  const int64_t pixels = s.Pixels(), rows = s.ColRows(), inG = s.InPerGroup(), outG = s.OutPerGroup();
  const int64_t units = s.n * s.groups;
  const int64_t maxPanel = std::max<int64_t>(64, kScratchFloats / std::max<int64_t>(1, rows));
  const int64_t panels = PanelCount(units, pixels, threads, 64, maxPanel);
  const int64_t widest = WidestPanel(pixels, panels, 16);
  const bool pointwise = s.Pointwise();

#pragma omp parallel num_threads(threads)
  {
    float* col = pointwise ? nullptr : ThreadScratch(Scratch::kColumns, rows * widest);
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < units * panels; item++) {
      const int64_t image = item / panels / s.groups, group = item / panels % s.groups;
      const int64_t p0 = PanelStart(pixels, panels, item % panels, 16);
      const int64_t p1 = PanelStart(pixels, panels, item % panels + 1, 16);
      if (p0 == p1) continue;
      const float* xGroup = x.data + (image * s.cIn + group * inG) * s.Plane();
      const float* wGroup = weight.data + group * outG * rows;
      float* outGroup = out.data + (image * s.cOut + group * outG) * pixels;
      if (pointwise) {
        GemmSerial(outG, p1 - p0, rows, wGroup, rows, false, xGroup + p0, pixels, false, outGroup + p0, pixels,
                   false);
      } else {
        Im2col(s, xGroup, 0, inG, p0, p1, col, p1 - p0);
        GemmSerial(outG, p1 - p0, rows, wGroup, rows, false, col, p1 - p0, false, outGroup + p0, pixels,
                   false);
      }
      if (bias != nullptr) {
        for (int64_t co = 0; co < outG; co++) {
          const float b = bias[group * outG + co];
          for (float* o = outGroup + co * pixels + p0; o < outGroup + co * pixels + p1; o++) *o += b;
        }
      }
    }
  }
  return env.Undefined();
}

Napi::Value Conv2dGradInput(const Napi::CallbackInfo& info) {
  const char* op = "conv2dGradInput";
  Napi::Env env = info.Env();
  const F32 gy = ArgF32(info, 0, op);
  const F32 weight = ArgF32(info, 1, op);
  const F32 gx = ArgF32(info, 2, op);
  const ConvShape s = ReadShape(info, 3, op);
  RequireLength(env, gy, static_cast<size_t>(s.n * s.cOut * s.Pixels()), op, "gy");
  RequireLength(env, weight, static_cast<size_t>(s.cOut * s.ColRows()), op, "weight");
  RequireLength(env, gx, static_cast<size_t>(s.n * s.cIn * s.Plane()), op, "gx");

  const int64_t pixels = s.Pixels(), rows = s.ColRows(), taps = s.Taps(), inG = s.InPerGroup();
  const int64_t outG = s.OutPerGroup();
  const int threads = ThreadsFor(s.Macs());
  if (pointwise::Applies(s)) {
    pointwise::GradInput(s, gy.data, weight.data, gx.data, threads);
    return env.Undefined();
  }
  if (batched::Applies(s, UseWinograd(s))) {
    batched::GradInput(s, gy.data, weight.data, gx.data, threads);
    return env.Undefined();
  }
  if (UseWinograd(s)) {
    const winograd::Shape shape = GradInputShape(s);
    if (winograd::narrow::Prefers(shape)) {
      float* u = ThreadScratch(Scratch::kWeights, winograd::narrow::WeightsSize(shape));
      winograd::narrow::TransformWeights(shape, weight.data, true, u, threads);
      winograd::narrow::Forward(shape, gy.data, u, nullptr, gx.data, threads);
      return env.Undefined();
    }
    float* u = ThreadScratch(Scratch::kWeights, 16 * s.cIn * outG);
    winograd::TransformWeights(shape, weight.data, true, u, threads);
    winograd::Forward(shape, gy.data, u, nullptr, gx.data, threads);
    return env.Undefined();
  }
  const int64_t units = s.n * s.groups;
  const int64_t maxChannels = std::max<int64_t>(1, kScratchFloats / std::max<int64_t>(1, taps * pixels));
  const int64_t panels = PanelCount(units, inG, threads, 1, maxChannels);
  const int64_t widest = WidestPanel(inG, panels, 1);
  const bool pointwise = s.Pointwise();

#pragma omp parallel num_threads(threads)
  {
    float* gcol = pointwise ? nullptr : ThreadScratch(Scratch::kColumns, widest * taps * pixels);
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < units * panels; item++) {
      const int64_t image = item / panels / s.groups, group = item / panels % s.groups;
      const int64_t c0 = PanelStart(inG, panels, item % panels, 1);
      const int64_t c1 = PanelStart(inG, panels, item % panels + 1, 1);
      if (c0 == c1) continue;
      const float* gyGroup = gy.data + (image * s.cOut + group * outG) * pixels;
      // Columns c0 * taps .. c1 * taps of this group's weight [outG, rows], used transposed.
      const float* wPanel = weight.data + group * outG * rows + c0 * taps;
      float* gxGroup = gx.data + (image * s.cIn + group * inG) * s.Plane();
      if (pointwise) {
        GemmSerial(c1 - c0, pixels, outG, wPanel, rows, true, gyGroup, pixels, false, gxGroup + c0 * pixels, pixels,
                   false);
      } else {
        GemmSerial((c1 - c0) * taps, pixels, outG, wPanel, rows, true, gyGroup, pixels, false, gcol, pixels,
                   false);
        Col2im(s, gcol, c0, c1, gxGroup, pixels);
      }
    }
  }
  return env.Undefined();
}

Napi::Value Conv2dGradWeight(const Napi::CallbackInfo& info) {
  const char* op = "conv2dGradWeight";
  Napi::Env env = info.Env();
  const F32 x = ArgF32(info, 0, op);
  const F32 gy = ArgF32(info, 1, op);
  const F32 gw = ArgF32(info, 2, op);
  const ConvShape s = ReadShape(info, 3, op);
  RequireLength(env, x, static_cast<size_t>(s.n * s.cIn * s.Plane()), op, "x");
  RequireLength(env, gy, static_cast<size_t>(s.n * s.cOut * s.Pixels()), op, "gy");
  RequireLength(env, gw, static_cast<size_t>(s.cOut * s.ColRows()), op, "gw");

  const int64_t pixels = s.Pixels(), rows = s.ColRows(), taps = s.Taps(), inG = s.InPerGroup();
  const int64_t outG = s.OutPerGroup();
  const int threads = ThreadsFor(s.Macs());
  if (pointwise::AppliesGradWeight(s)) {
    pointwise::GradWeight(s, x.data, gy.data, gw.data, threads);
    return env.Undefined();
  }
  if (s.n > 0 && batched::Applies(s, UseWinograd(s))) {
    batched::GradWeight(s, x.data, gy.data, gw.data, threads);
    return env.Undefined();
  }
  if (UseWinograd(s)) {
    const winograd::Shape shape = ForwardShape(s);
    if (winograd::narrow::Prefers(shape)) {
      winograd::narrow::GradWeight(shape, x.data, gy.data, gw.data, threads);
    } else {
      winograd::GradWeight(shape, x.data, gy.data, gw.data, threads);
    }
    return env.Undefined();
  }
  const int64_t maxChannels = std::max<int64_t>(1, kScratchFloats / std::max<int64_t>(1, taps * pixels));
  const int64_t inPanels = PanelCount(s.groups, inG, threads, 1, maxChannels);
  const int64_t outPanels = PanelCount(s.groups * inPanels, outG, threads, 16, outG);
  const int64_t widest = WidestPanel(inG, inPanels, 1);
  const bool pointwise = s.Pointwise();
  if (s.n == 0) {
    std::fill(gw.data, gw.data + s.cOut * rows, 0.0f);
    return env.Undefined();
  }

#pragma omp parallel num_threads(threads)
  {
    float* col = pointwise ? nullptr : ThreadScratch(Scratch::kColumns, widest * taps * pixels);
#pragma omp for schedule(dynamic)
    for (int64_t item = 0; item < s.groups * inPanels * outPanels; item++) {
      const int64_t group = item / (inPanels * outPanels);
      const int64_t inPanel = item / outPanels % inPanels, outPanel = item % outPanels;
      const int64_t c0 = PanelStart(inG, inPanels, inPanel, 1), c1 = PanelStart(inG, inPanels, inPanel + 1, 1);
      const int64_t o0 = PanelStart(outG, outPanels, outPanel, 16);
      const int64_t o1 = PanelStart(outG, outPanels, outPanel + 1, 16);
      if (c0 == c1 || o0 == o1) continue;
      // gW[o0:o1, c0 * taps : c1 * taps] of this group, row stride `rows`.
      float* gwPanel = gw.data + (group * outG + o0) * rows + c0 * taps;
      for (int64_t image = 0; image < s.n; image++) {
        const float* xGroup = x.data + (image * s.cIn + group * inG) * s.Plane();
        const float* gyPanel = gy.data + (image * s.cOut + group * outG + o0) * pixels;
        const float* colPanel = xGroup + c0 * pixels;
        if (!pointwise) {
          Im2col(s, xGroup, c0, c1, 0, pixels, col, pixels);
          colPanel = col;
        }
        GemmSerial(o1 - o0, (c1 - c0) * taps, pixels, gyPanel, pixels, false, colPanel, pixels, true, gwPanel, rows,
                   image > 0);
      }
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterConv2d(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dGradInput", Napi::Function::New(env, Conv2dGradInput));
  exports.Set("conv2dGradWeight", Napi::Function::New(env, Conv2dGradWeight));
}

}  // namespace ldm
