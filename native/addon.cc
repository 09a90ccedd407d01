// llmforge native backend: N-API entry point. Checks every argument (types, sizes, offsets, strides)
// so a wrong call throws a JS error naming the kernel and argument instead of touching bad memory,
// then runs the kernel table chosen for this CPU (AVX-512, AVX2+FMA or scalar; bf16 GEMM if present).
#include <napi.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "dispatch.h"
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace llmf {

static int g_threads = 1;
static const KernelTable* g_table = nullptr;
static bool g_bf16 = false;
// bf16 GEMM path: "amx" (tiles) when the CPU and kernel allow it, else "avx512bf16" (vdpbf16ps).
static std::string g_bf16Path = "none";

static bool g_spinWaits = false;  // OMP_WAIT_POLICY=active when the addon loaded

int threads() { return g_threads; }
long parallelGrain() { return g_spinWaits ? (1L << 16) : (1L << 18); }
double gemmParallelMin() { return g_spinWaits ? (double)(1L << 21) : (double)(1L << 24); }

// Thrown by the argument readers; turned into a JS TypeError/RangeError by `wrap`.
struct ArgError {
  std::string msg;
  bool range;
};

static bool cpuHasAvx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}
static bool cpuHasAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}
static bool cpuHasVnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpuHasAvx512() && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}
static bool cpuHasBf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpuHasAvx512() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

// Picks the best table the CPU runs, or the one asked for when the CPU supports it. Returns false if not.
static bool selectSimd(const std::string& want) {
  if (want == "avx512") {
    if (!cpuHasAvx512()) return false;
    g_table = cpuHasVnni() ? table_avx512vnni() : table_avx512();
  } else if (want == "avx2") {
    if (!cpuHasAvx2()) return false;
    g_table = table_avx2();
  } else if (want == "scalar") {
    g_table = table_scalar();
  } else if (want == "auto" || want.empty()) {
    g_table = cpuHasAvx512() ? (cpuHasVnni() ? table_avx512vnni() : table_avx512()) : cpuHasAvx2() ? table_avx2() : table_scalar();
  } else {
    return false;
  }
  return true;
}

// ------------------------------------------------------------------ argument readers

struct Args {
  const Napi::CallbackInfo& info;
  const char* kernel;

  [[noreturn]] void fail(const std::string& what, bool range = false) const {
    throw ArgError{std::string("llmforge native ") + kernel + ": " + what, range};
  }
  void count(size_t n) const {
    if (info.Length() < n) fail("expected " + std::to_string(n) + " arguments, got " + std::to_string(info.Length()));
  }
  long integer(size_t i, const char* name, long minValue = 0) const {
    if (!info[i].IsNumber()) fail(std::string(name) + " must be a number");
    const double d = info[i].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d)) fail(std::string(name) + " must be an integer, got " + std::to_string(d));
    if (d < (double)minValue || d > 9.0e15)
      fail(std::string(name) + " = " + std::to_string((long long)d) + " is out of range (min " + std::to_string(minValue) + ")", true);
    return (long)d;
  }
  float number(size_t i, const char* name) const {
    if (!info[i].IsNumber()) fail(std::string(name) + " must be a number");
    return (float)info[i].As<Napi::Number>().DoubleValue();
  }
  double number64(size_t i, const char* name) const {
    if (!info[i].IsNumber()) fail(std::string(name) + " must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
  bool boolean(size_t i, const char* name) const {
    if (!info[i].IsBoolean()) fail(std::string(name) + " must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
  // A Float32Array (or null when nullable) holding at least `need` elements.
  float* f32(size_t i, const char* name, long need, bool nullable = false) const {
    if (nullable && (info[i].IsNull() || info[i].IsUndefined())) return nullptr;
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(std::string(name) + " must be a Float32Array (the native backend runs f32 only; f64 stays on the reference backend)");
    auto a = info[i].As<Napi::Float32Array>();
    if ((long)a.ElementLength() < need)
      fail(std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, needs at least " + std::to_string(need), true);
    return a.Data();
  }
  int32_t* i32(size_t i, const char* name, long need) const {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      fail(std::string(name) + " must be an Int32Array");
    auto a = info[i].As<Napi::Int32Array>();
    if ((long)a.ElementLength() < need)
      fail(std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, needs at least " + std::to_string(need), true);
    return a.Data();
  }
  long length(size_t i) const { return (long)info[i].As<Napi::TypedArray>().ElementLength(); }
  std::vector<long> longs(size_t i, const char* name, bool allowNegative) const {
    if (!info[i].IsArray()) fail(std::string(name) + " must be an array of integers");
    auto a = info[i].As<Napi::Array>();
    if (a.Length() > (uint32_t)kMaxDims) fail(std::string(name) + " has " + std::to_string(a.Length()) + " dims; at most " + std::to_string(kMaxDims) + " are supported", true);
    std::vector<long> out(a.Length());
    for (uint32_t d = 0; d < a.Length(); ++d) {
      Napi::Value v = a.Get(d);
      if (!v.IsNumber()) fail(std::string(name) + "[" + std::to_string(d) + "] must be a number");
      const double x = v.As<Napi::Number>().DoubleValue();
      if (!std::isfinite(x) || x != std::floor(x) || std::fabs(x) > 9.0e15 || (!allowNegative && x < 0))
        fail(std::string(name) + "[" + std::to_string(d) + "] = " + std::to_string(x) + " is not a valid " + (allowNegative ? "integer" : "non-negative integer"), true);
      out[d] = (long)x;
    }
    return out;
  }
};

static long product(const std::vector<long>& s) {
  long n = 1;
  for (long x : s) n *= x;
  return n;
}

// Checks that off + sum(idx_d * strides_d) stays inside [0, len) over the whole shape.
static void checkStrided(const Args& a, const char* name, long off, const std::vector<long>& strides,
                         const std::vector<long>& shape, long len) {
  if (strides.size() != shape.size())
    a.fail(std::string(name) + " strides have " + std::to_string(strides.size()) + " dims, shape has " + std::to_string(shape.size()));
  if (product(shape) == 0) return;
  long lo = off, hi = off;
  for (size_t d = 0; d < shape.size(); ++d) {
    const long span = (shape[d] - 1) * strides[d];
    if (span < 0) lo += span;
    else hi += span;
  }
  if (lo < 0 || hi >= len)
    a.fail(std::string(name) + " view reaches elements [" + std::to_string(lo) + ", " + std::to_string(hi) + "] but the storage has " + std::to_string(len), true);
}

template <class F>
static Napi::Value wrap(const Napi::CallbackInfo& info, F&& f) {
  try {
    return f();
  } catch (const ArgError& e) {
    if (e.range) Napi::RangeError::New(info.Env(), e.msg).ThrowAsJavaScriptException();
    else Napi::TypeError::New(info.Env(), e.msg).ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    Napi::Error::New(info.Env(), "llmforge native: out of memory").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// ------------------------------------------------------------------ kernels

// The 20 arguments of one GEMM from position `at`: transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c,
// cOff, ldc, batch, strideA, strideB, strideC (every operand checked to hold what the product reads or writes).
// Returns false when there is nothing to compute (no batch, row or column).
static bool gemmArgs(const Args& a, size_t at, GemmParams& p) {
  p = GemmParams{};
  p.transA = a.boolean(at + 0, "transA");
  p.transB = a.boolean(at + 1, "transB");
  p.M = a.integer(at + 2, "M");
  p.N = a.integer(at + 3, "N");
  p.K = a.integer(at + 4, "K");
  p.alpha = a.number(at + 5, "alpha");
  const long aOff = a.integer(at + 7, "aOff"), bOff = a.integer(at + 10, "bOff"), cOff = a.integer(at + 14, "cOff");
  p.lda = a.integer(at + 8, "lda");
  p.ldb = a.integer(at + 11, "ldb");
  p.ldc = a.integer(at + 15, "ldc");
  const long beta = a.integer(at + 12, "beta");
  if (beta != 0 && beta != 1) a.fail("beta must be 0 or 1, got " + std::to_string(beta), true);
  p.beta = (int)beta;
  p.batch = a.integer(at + 16, "batch");
  p.strideA = a.integer(at + 17, "strideA");
  p.strideB = a.integer(at + 18, "strideB");
  p.strideC = a.integer(at + 19, "strideC");
  if (p.M > 1 && p.ldc < p.N) a.fail("ldc = " + std::to_string(p.ldc) + " is smaller than N = " + std::to_string(p.N), true);
  const bool any = p.batch > 0 && p.M > 0 && p.N > 0;
  const bool anyK = any && p.K > 0;
  // Last element each operand touches (stored A is M x K, or K x M when transposed; likewise B).
  const long aRows = p.transA ? p.K : p.M, aCols = p.transA ? p.M : p.K;
  const long bRows = p.transB ? p.N : p.K, bCols = p.transB ? p.K : p.N;
  const long aNeed = anyK ? aOff + (p.batch - 1) * p.strideA + (aRows - 1) * p.lda + aCols : 0;
  const long bNeed = anyK ? bOff + (p.batch - 1) * p.strideB + (bRows - 1) * p.ldb + bCols : 0;
  const long cNeed = any ? cOff + (p.batch - 1) * p.strideC + (p.M - 1) * p.ldc + p.N : 0;
  const float* A = a.f32(at + 6, "a", aNeed);
  const float* B = a.f32(at + 9, "b", bNeed);
  float* C = a.f32(at + 13, "c", cNeed);
  p.a = A + aOff;
  p.b = B + bOff;
  p.c = C + cOff;
  return any;
}

// gemm(transA, transB, M, N, K, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, batch, strideA, strideB, strideC)
static Napi::Value GemmImpl(const Napi::CallbackInfo& info, bool bf16) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, bf16 ? "gemmBf16" : "gemm"};
    a.count(20);
    GemmParams p;
    if (!gemmArgs(a, 0, p)) return info.Env().Undefined();
    if (bf16) {
      if (!g_bf16) a.fail("this CPU has no avx512_bf16; use gemm (f32) instead");
      if (g_bf16Path == "amx") gemm_bf16_amx(p);
      else gemm_bf16(p);
    } else {
      g_table->gemm(p);
    }
    return info.Env().Undefined();
  });
}
// gemmPair(bf16, ...the 20 arguments of gemm for P, ...the 20 for Q): two independent products at once (C of each
// must not overlap the other's operands), each element as gemm (or gemmBf16) computes it.
static Napi::Value GemmPair(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "gemmPair"};
    a.count(41);
    const bool bf16 = a.boolean(0, "bf16");
    GemmParams p, q;
    const bool anyP = gemmArgs(a, 1, p), anyQ = gemmArgs(a, 21, q);
    if (bf16 && !g_bf16) a.fail("this CPU has no avx512_bf16; use gemm (f32) instead");
    auto one = [&](const GemmParams& g) {
      if (!bf16) g_table->gemm(g);
      else if (g_bf16Path == "amx") gemm_bf16_amx(g);
      else gemm_bf16(g);
    };
    if (anyP && anyQ) {
      if (!bf16) g_table->gemmPair(p, q);
      else if (g_bf16Path == "amx") gemm_bf16_amx_pair(p, q);
      else gemm_bf16_pair(p, q);
    } else if (anyP) {
      one(p);
    } else if (anyQ) {
      one(q);
    }
    return info.Env().Undefined();
  });
}
static Napi::Value Gemm(const Napi::CallbackInfo& info) { return GemmImpl(info, false); }
static Napi::Value GemmBf16(const Napi::CallbackInfo& info) { return GemmImpl(info, true); }

// copyStrided(x, xOff, xStrides, out, shape)
static Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "copyStrided"};
    a.count(5);
    const long off = a.integer(1, "xOff");
    const auto strides = a.longs(2, "xStrides", true);
    const auto shape = a.longs(4, "shape", false);
    const long total = product(shape);
    const float* x = a.f32(0, "x", 0);
    checkStrided(a, "x", off, strides, shape, a.length(0));
    float* out = a.f32(3, "out", total);
    if (total > 0) g_table->copyStrided(x + off, strides.data(), out, shape.data(), (int)shape.size());
    return info.Env().Undefined();
  });
}

// binary(op, a, aOff, aStrides, b, bOff, bStrides, out, shape)
static Napi::Value Binary(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "binary"};
    a.count(9);
    const long op = a.integer(0, "op");
    if (op > B_MIN) a.fail("unknown binary op code " + std::to_string(op), true);
    const long aOff = a.integer(2, "aOff"), bOff = a.integer(5, "bOff");
    const auto as = a.longs(3, "aStrides", true), bs = a.longs(6, "bStrides", true);
    const auto shape = a.longs(8, "shape", false);
    const long total = product(shape);
    const float* A = a.f32(1, "a", 0);
    const float* B = a.f32(4, "b", 0);
    checkStrided(a, "a", aOff, as, shape, a.length(1));
    checkStrided(a, "b", bOff, bs, shape, a.length(4));
    float* out = a.f32(7, "out", total);
    if (total > 0) g_table->binary((int)op, A + aOff, as.data(), B + bOff, bs.data(), out, shape.data(), (int)shape.size());
    return info.Env().Undefined();
  });
}

// unary(op, x, out, n) / unaryBackward(op, x, gy, gx, n)
static Napi::Value Unary(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "unary"};
    a.count(4);
    const long op = a.integer(0, "op");
    if (op > U_RECIP) a.fail("unknown unary op code " + std::to_string(op), true);
    const long n = a.integer(3, "n");
    g_table->unary((int)op, a.f32(1, "x", n), a.f32(2, "out", n), n);
    return info.Env().Undefined();
  });
}
static Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "unaryBackward"};
    a.count(5);
    const long op = a.integer(0, "op");
    if (op > U_RECIP) a.fail("unknown unary op code " + std::to_string(op), true);
    const long n = a.integer(4, "n");
    g_table->unaryBackward((int)op, a.f32(1, "x", n), a.f32(2, "gy", n), a.f32(3, "gx", n), n);
    return info.Env().Undefined();
  });
}

// sumAxis(x, out, outer, dim, inner) / maxAxis(x, out, arg, outer, dim, inner)
static Napi::Value SumAxis(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "sumAxis"};
    a.count(5);
    const long outer = a.integer(2, "outer"), dim = a.integer(3, "dim"), inner = a.integer(4, "inner");
    g_table->sumAxis(a.f32(0, "x", outer * dim * inner), a.f32(1, "out", outer * inner), outer, dim, inner);
    return info.Env().Undefined();
  });
}
static Napi::Value MaxAxis(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "maxAxis"};
    a.count(6);
    const long outer = a.integer(3, "outer"), dim = a.integer(4, "dim"), inner = a.integer(5, "inner");
    g_table->maxAxis(a.f32(0, "x", outer * dim * inner), a.f32(1, "out", outer * inner), a.i32(2, "arg", outer * inner),
                     outer, dim, inner);
    return info.Env().Undefined();
  });
}

// softmax(x, out, rows, cols, log) / softmaxBackward(y, gy, gx, rows, cols, log)
static Napi::Value Softmax(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "softmax"};
    a.count(5);
    const long rows = a.integer(2, "rows"), cols = a.integer(3, "cols");
    g_table->softmax(a.f32(0, "x", rows * cols), a.f32(1, "out", rows * cols), rows, cols, a.boolean(4, "log"));
    return info.Env().Undefined();
  });
}
static Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "softmaxBackward"};
    a.count(6);
    const long rows = a.integer(3, "rows"), cols = a.integer(4, "cols"), n = rows * cols;
    g_table->softmaxBackward(a.f32(0, "y", n), a.f32(1, "gy", n), a.f32(2, "gx", n), rows, cols, a.boolean(5, "log"));
    return info.Env().Undefined();
  });
}

// layerNorm(x, w, b, out, mean, rstd, rows, cols, eps)
static Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "layerNorm"};
    a.count(9);
    const long rows = a.integer(6, "rows"), cols = a.integer(7, "cols"), n = rows * cols;
    g_table->layerNorm(a.f32(0, "x", n), a.f32(1, "w", cols, true), a.f32(2, "b", cols, true), a.f32(3, "out", n),
                       a.f32(4, "mean", rows), a.f32(5, "rstd", rows), rows, cols, a.number(8, "eps"));
    return info.Env().Undefined();
  });
}
// layerNormBackward(x, w, mean, rstd, gy, gx, gw, gb, rows, cols)
static Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "layerNormBackward"};
    a.count(10);
    const long rows = a.integer(8, "rows"), cols = a.integer(9, "cols"), n = rows * cols;
    g_table->layerNormBackward(a.f32(0, "x", n), a.f32(1, "w", cols, true), a.f32(2, "mean", rows), a.f32(3, "rstd", rows),
                               a.f32(4, "gy", n), a.f32(5, "gx", n), a.f32(6, "gw", cols, true), a.f32(7, "gb", cols, true),
                               rows, cols);
    return info.Env().Undefined();
  });
}
// rmsNorm(x, w, out, rstd, rows, cols, eps)
static Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "rmsNorm"};
    a.count(7);
    const long rows = a.integer(4, "rows"), cols = a.integer(5, "cols"), n = rows * cols;
    g_table->rmsNorm(a.f32(0, "x", n), a.f32(1, "w", cols, true), a.f32(2, "out", n), a.f32(3, "rstd", rows), rows, cols,
                     a.number(6, "eps"));
    return info.Env().Undefined();
  });
}
// rmsNormBackward(x, w, rstd, gy, gx, gw, rows, cols)
static Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "rmsNormBackward"};
    a.count(8);
    const long rows = a.integer(6, "rows"), cols = a.integer(7, "cols"), n = rows * cols;
    g_table->rmsNormBackward(a.f32(0, "x", n), a.f32(1, "w", cols, true), a.f32(2, "rstd", rows), a.f32(3, "gy", n),
                             a.f32(4, "gx", n), a.f32(5, "gw", cols, true), rows, cols);
    return info.Env().Undefined();
  });
}

// Every id must index a row of a weight with `vocab` rows.
static void checkIds(const Args& a, const int32_t* ids, long n, long vocab, bool allowIgnore, int32_t ignore) {
  for (long i = 0; i < n; ++i) {
    const int32_t id = ids[i];
    if (allowIgnore && id == ignore) continue;
    if (id < 0 || id >= vocab)
      a.fail("index " + std::to_string(id) + " at position " + std::to_string(i) + " is outside [0, " + std::to_string(vocab) + ")", true);
  }
}

// embedding(weight, ids, out, n, dim)
static Napi::Value Embedding(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "embedding"};
    a.count(5);
    const long n = a.integer(3, "n"), dim = a.integer(4, "dim");
    const float* w = a.f32(0, "weight", 0);
    const int32_t* ids = a.i32(1, "ids", n);
    const long vocab = dim > 0 ? a.length(0) / dim : 0;
    if (dim > 0) checkIds(a, ids, n, vocab, false, 0);
    g_table->embedding(w, ids, a.f32(2, "out", n * dim), n, dim);
    return info.Env().Undefined();
  });
}
// embeddingBackward(gy, ids, gw, n, dim)
static Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "embeddingBackward"};
    a.count(5);
    const long n = a.integer(3, "n"), dim = a.integer(4, "dim");
    const float* gy = a.f32(0, "gy", n * dim);
    const int32_t* ids = a.i32(1, "ids", n);
    float* gw = a.f32(2, "gw", 0);
    const long vocab = dim > 0 ? a.length(2) / dim : 0;
    if (dim > 0) checkIds(a, ids, n, vocab, false, 0);
    g_table->embeddingBackward(gy, ids, gw, n, dim, vocab);
    return info.Env().Undefined();
  });
}

// crossEntropy(logits, targets, losses, lse, rows, vocab, ignoreIndex)
static Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "crossEntropy"};
    a.count(7);
    const long rows = a.integer(4, "rows"), vocab = a.integer(5, "vocab");
    const long ig = a.integer(6, "ignoreIndex", -2147483648L);
    const int32_t* t = a.i32(1, "targets", rows);
    checkIds(a, t, rows, vocab, true, (int32_t)ig);
    g_table->crossEntropy(a.f32(0, "logits", rows * vocab), t, a.f32(2, "losses", rows), a.f32(3, "lse", rows), rows, vocab,
                          (int32_t)ig);
    return info.Env().Undefined();
  });
}
// crossEntropyBackward(logits, targets, lse, gloss, glogits, rows, vocab, ignoreIndex)
static Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "crossEntropyBackward"};
    a.count(8);
    const long rows = a.integer(5, "rows"), vocab = a.integer(6, "vocab");
    const long ig = a.integer(7, "ignoreIndex", -2147483648L);
    const int32_t* t = a.i32(1, "targets", rows);
    checkIds(a, t, rows, vocab, true, (int32_t)ig);
    g_table->crossEntropyBackward(a.f32(0, "logits", rows * vocab), t, a.f32(2, "lse", rows), a.f32(3, "gloss", rows),
                                  a.f32(4, "glogits", rows * vocab), rows, vocab, (int32_t)ig);
    return info.Env().Undefined();
  });
}

// attention(B, T, H, Hkv, D, scale, q, qOff, qRowStride, k, kOff, v, vOff, kvRowStride, out, lse
//           [, gout, gq, gk, gv])
static Napi::Value AttentionImpl(const Napi::CallbackInfo& info, bool backward) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, backward ? "attentionBackward" : "attention"};
    a.count(backward ? 20 : 16);
    AttnParams p{};
    p.B = a.integer(0, "B");
    p.T = a.integer(1, "T");
    p.H = a.integer(2, "H");
    p.Hkv = a.integer(3, "Hkv");
    p.D = a.integer(4, "D");
    p.scale = a.number(5, "scale");
    if (p.Hkv < 1 || p.H % p.Hkv != 0)
      a.fail("H = " + std::to_string(p.H) + " must be a positive multiple of Hkv = " + std::to_string(p.Hkv), true);
    const long qOff = a.integer(7, "qOff"), kOff = a.integer(10, "kOff"), vOff = a.integer(12, "vOff");
    p.qRowStride = a.integer(8, "qRowStride");
    p.kvRowStride = a.integer(13, "kvRowStride");
    const long BT = p.B * p.T;
    const bool any = BT > 0 && p.H > 0 && p.D > 0;
    if (any && p.qRowStride < p.H * p.D) a.fail("qRowStride " + std::to_string(p.qRowStride) + " < H*D", true);
    if (any && p.kvRowStride < p.Hkv * p.D) a.fail("kvRowStride " + std::to_string(p.kvRowStride) + " < Hkv*D", true);
    const long qNeed = any ? qOff + (BT - 1) * p.qRowStride + p.H * p.D : 0;
    const long kNeed = any ? kOff + (BT - 1) * p.kvRowStride + p.Hkv * p.D : 0;
    const long vNeed = any ? vOff + (BT - 1) * p.kvRowStride + p.Hkv * p.D : 0;
    p.q = a.f32(6, "q", qNeed) + qOff;
    p.k = a.f32(9, "k", kNeed) + kOff;
    p.v = a.f32(11, "v", vNeed) + vOff;
    const long nOut = BT * p.H * p.D, nKv = BT * p.Hkv * p.D;
    p.out = a.f32(14, "out", nOut);
    p.lse = a.f32(15, "lse", p.B * p.H * p.T);
    if (backward) {
      p.gout = a.f32(16, "gout", nOut);
      p.gq = a.f32(17, "gq", nOut);
      p.gk = a.f32(18, "gk", nKv);
      p.gv = a.f32(19, "gv", nKv);
      g_table->attentionBackward(p);
    } else {
      g_table->attention(p);
    }
    return info.Env().Undefined();
  });
}
static Napi::Value Attention(const Napi::CallbackInfo& info) { return AttentionImpl(info, false); }
static Napi::Value AttentionBackward(const Napi::CallbackInfo& info) { return AttentionImpl(info, true); }

// rope(x, out, B, T, H, D, base, pos0, inverse)
static Napi::Value Rope(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "rope"};
    a.count(9);
    const long B = a.integer(2, "B"), T = a.integer(3, "T"), H = a.integer(4, "H"), D = a.integer(5, "D");
    if (D % 2 != 0) a.fail("D = " + std::to_string(D) + " must be even (pairs d, d + D/2)", true);
    const long n = B * T * H * D;
    g_table->rope(a.f32(0, "x", n), a.f32(1, "out", n), B, T, H, D, a.number64(6, "base"), a.number64(7, "pos0"),
                  a.boolean(8, "inverse"));
    return info.Env().Undefined();
  });
}

// H a multiple of Hkv >= 1 (grouped-query attention).
static void checkHeads(const Args& a, long H, long Hkv) {
  if (Hkv < 1 || H % Hkv != 0)
    a.fail("H = " + std::to_string(H) + " must be a multiple of Hkv = " + std::to_string(Hkv) + " >= 1", true);
}
// Positions [0, end) of slot s of the batch decoder's caches lie within the slot (slotStride) and within both buffers.
static void checkCacheRange(const Args& a, const char* what, long i, long s, long end, long kvw, long slotStride, long cacheLen) {
  if (slotStride % (16 * kvw) != 0)
    a.fail("slotStride " + std::to_string(slotStride) + " must be a multiple of 16 * Hkv * D = " + std::to_string(16 * kvw) +
           " (keys are stored in blocks of 16 positions)", true);
  if (s < 0 || end * kvw > slotStride || s * slotStride + end * kvw > cacheLen)
    a.fail(std::string(what) + " " + std::to_string(i) + ": slot " + std::to_string(s) + ", positions up to " + std::to_string(end) +
           " do not fit the caches (" + std::to_string(cacheLen) + " floats, " + std::to_string(slotStride) + " per slot)", true);
}

// kvAppend(n, H, Hkv, D, qkv, qkvOff, qkvRowStride, slot, pos, ropeBase, kCache, vCache, slotStride)
static Napi::Value KvAppend(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "kvAppend"};
    a.count(13);
    KvAppendParams p{};
    p.n = a.integer(0, "n");
    p.H = a.integer(1, "H");
    p.Hkv = a.integer(2, "Hkv");
    p.D = a.integer(3, "D");
    checkHeads(a, p.H, p.Hkv);
    const long off = a.integer(5, "qkvOff");
    p.qkvRowStride = a.integer(6, "qkvRowStride");
    const long width = (p.H + 2 * p.Hkv) * p.D, kvw = p.Hkv * p.D;
    if (p.n > 0 && p.qkvRowStride < width) a.fail("qkvRowStride " + std::to_string(p.qkvRowStride) + " < (H + 2 Hkv) D", true);
    p.ropeBase = a.number64(9, "ropeBase");
    if (!(p.ropeBase >= 0.0 && std::isfinite(p.ropeBase))) a.fail("ropeBase must be 0 (no RoPE) or a positive number", true);
    if (p.ropeBase > 0.0 && p.D % 2 != 0) a.fail("D = " + std::to_string(p.D) + " must be even for RoPE", true);
    p.slotStride = a.integer(12, "slotStride");
    p.qkv = a.f32(4, "qkv", p.n > 0 ? off + (p.n - 1) * p.qkvRowStride + width : 0) + off;
    p.slot = a.i32(7, "slot", p.n);
    p.pos = a.i32(8, "pos", p.n);
    p.kCache = a.f32(10, "kCache", 0);
    p.vCache = a.f32(11, "vCache", 0);
    const long cacheLen = std::min(a.length(10), a.length(11));
    for (long r = 0; r < p.n; ++r) {
      if (p.pos[r] < 0) a.fail("row " + std::to_string(r) + ": position " + std::to_string(p.pos[r]) + " is negative", true);
      checkCacheRange(a, "row", r, p.slot[r], (long)p.pos[r] + 1, kvw, p.slotStride, cacheLen);
    }
    g_table->kvAppend(p);
    return info.Env().Undefined();
  });
}

// decodeAttention(n, H, Hkv, D, scale, q, qOff, qRowStride, row, slot, len, kCache, vCache, slotStride, out)
static Napi::Value DecodeAttention(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "decodeAttention"};
    a.count(15);
    DecodeAttnParams p{};
    p.n = a.integer(0, "n");
    p.H = a.integer(1, "H");
    p.Hkv = a.integer(2, "Hkv");
    p.D = a.integer(3, "D");
    checkHeads(a, p.H, p.Hkv);
    p.scale = a.number(4, "scale");
    const long qOff = a.integer(6, "qOff");
    p.qRowStride = a.integer(7, "qRowStride");
    if (p.n > 0 && p.qRowStride < p.H * p.D) a.fail("qRowStride " + std::to_string(p.qRowStride) + " < H*D", true);
    p.slotStride = a.integer(13, "slotStride");
    const float* q = a.f32(5, "q", 0);
    const long qLen = a.length(5);
    p.row = a.i32(8, "row", p.n);
    p.slot = a.i32(9, "slot", p.n);
    p.len = a.i32(10, "len", p.n);
    p.kCache = a.f32(11, "kCache", 0);
    p.vCache = a.f32(12, "vCache", 0);
    p.out = a.f32(14, "out", 0);
    const long cacheLen = std::min(a.length(11), a.length(12)), outLen = a.length(14), kvw = p.Hkv * p.D;
    for (long i = 0; i < p.n; ++i) {
      const long r = p.row[i];
      if (r < 0 || qOff + r * p.qRowStride + p.H * p.D > qLen || (r + 1) * p.H * p.D > outLen)
        a.fail("entry " + std::to_string(i) + ": row " + std::to_string(r) + " is outside q (" + std::to_string(qLen) + " floats) or out (" +
               std::to_string(outLen) + ")", true);
      if (p.len[i] < 1) a.fail("entry " + std::to_string(i) + ": len " + std::to_string(p.len[i]) + " must be >= 1", true);
      checkCacheRange(a, "entry", i, p.slot[i], p.len[i], kvw, p.slotStride, cacheLen);
    }
    p.q = q + qOff;
    g_table->decodeAttention(p);
    return info.Env().Undefined();
  });
}

// adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2)
static Napi::Value AdamW(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "adamw"};
    a.count(12);
    AdamWParams p{};
    p.n = a.integer(4, "n");
    p.param = a.f32(0, "param", p.n);
    p.grad = a.f32(1, "grad", p.n);
    p.m = a.f32(2, "m", p.n);
    p.v = a.f32(3, "v", p.n);
    p.lr = a.number(5, "lr");
    p.beta1 = a.number(6, "beta1");
    p.beta2 = a.number(7, "beta2");
    p.eps = a.number(8, "eps");
    p.weightDecay = a.number(9, "weightDecay");
    p.bc1 = a.number(10, "bc1");
    p.bc2 = a.number(11, "bc2");
    g_table->adamw(p);
    return info.Env().Undefined();
  });
}

// packWeight(w, wOff, N, K) -> { data: Float32Array, layout }: W (N, K) row-major at w[wOff..] packed for gemmPacked
// under the SIMD level in use (layout names it).
static Napi::Value PackWeight(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "packWeight"};
    a.count(4);
    const long off = a.integer(1, "wOff"), N = a.integer(2, "N"), K = a.integer(3, "K");
    const float* w = a.f32(0, "w", off + N * K);
    const long size = g_table->packedSize(N, K);
    Napi::Float32Array data = Napi::Float32Array::New(info.Env(), (size_t)size);
    if (size > 0) g_table->packWeight(w + off, K, N, K, data.Data());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("data", data);
    o.Set("layout", Napi::String::New(info.Env(), g_table->simd));
    return o;
  });
}

// gemmPacked(x, M, packed, layout, N, K, bias, y): y (M, N) = x (M, K) · Wᵀ (+ bias), W packed by packWeight under
// the SIMD level `layout`, which must still be the one in use.
static Napi::Value GemmPacked(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "gemmPacked"};
    a.count(8);
    const long M = a.integer(1, "M"), N = a.integer(4, "N"), K = a.integer(5, "K");
    if (!info[3].IsString()) a.fail("layout must be a string");
    const std::string layout = info[3].As<Napi::String>().Utf8Value();
    if (layout != g_table->simd)
      a.fail("the weight was packed for " + layout + " but the " + g_table->simd + " kernels run now: pack it again");
    const float* x = a.f32(0, "x", M * K);
    const float* packed = a.f32(2, "packed", g_table->packedSize(N, K));
    const float* bias = a.f32(6, "bias", N, true);
    float* y = a.f32(7, "y", M * N);
    g_table->gemmPacked(x, K, M, packed, N, K, bias, y, N);
    return info.Env().Undefined();
  });
}

// The format (argument 2) and data (argument 3) of the quantised matmuls; `need` bytes of data given the format.
static std::string quantFormat(const Args& a, const Napi::CallbackInfo& info) {
  if (!info[2].IsString()) a.fail("format must be a string");
  const std::string format = info[2].As<Napi::String>().Utf8Value();
  if (format != "int8" && format != "q4_0") a.fail("format must be \"int8\" or \"q4_0\", got \"" + format + "\"");
  return format;
}

static const uint8_t* quantData(const Args& a, const Napi::CallbackInfo& info, long need, const char* what) {
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) a.fail("data must be a Uint8Array");
  auto data = info[3].As<Napi::Uint8Array>();
  if ((long)data.ElementLength() < need) a.fail(std::string(what) + " has " + std::to_string(data.ElementLength()) + " bytes, needs " + std::to_string(need), true);
  return data.Data();
}

// quantMatmul(x, M, format, data, scales, N, K, bias, y): y (M, N) = x (M, K) · Wᵀ (+ bias) on quantised weights,
// format "int8" (data: N·K int8 bytes, scales: N floats) or "q4_0" (data: N·K/32 ggml blocks of 18 bytes, scales null).
static Napi::Value QuantMatmul(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "quantMatmul"};
    a.count(9);
    const long M = a.integer(1, "M"), N = a.integer(5, "N"), K = a.integer(6, "K");
    const std::string format = quantFormat(a, info);
    if (format == "q4_0" && K % 32 != 0) a.fail("q4_0 needs K a multiple of 32, got " + std::to_string(K));
    const uint8_t* data = quantData(a, info, format == "int8" ? N * K : N * (K / 32) * 18, "data");
    const float* x = a.f32(0, "x", M * K);
    const float* bias = a.f32(7, "bias", N, true);
    float* y = a.f32(8, "y", M * N);
    if (format == "int8") g_table->quantMatmulI8(x, M, (const int8_t*)data, a.f32(4, "scales", N), N, K, bias, y);
    else g_table->quantMatmulQ4_0(x, M, data, N, K, bias, y);
    return info.Env().Undefined();
  });
}

// quantMatmulQ8(x, M, format, data, scales, N, K, bias, y): the same with x quantised to q8 blocks and integer dot
// products, on weights packed by packQuantWeight (groups of 8 rows; gemm_quant_q8.h); K a multiple of 32.
static Napi::Value QuantMatmulQ8(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "quantMatmulQ8"};
    a.count(9);
    const long M = a.integer(1, "M"), N = a.integer(5, "N"), K = a.integer(6, "K");
    const std::string format = quantFormat(a, info);
    if (K % 32 != 0) a.fail("q8 activations need K a multiple of 32, got " + std::to_string(K));
    const long groups = (N + 7) / 8, nb = K / 32;
    const uint8_t* data = quantData(a, info, groups * nb * (format == "int8" ? 256 : 128), "packed data");
    const float* scales = a.f32(4, "scales", format == "int8" ? groups * 8 : groups * nb * 8);
    const float* x = a.f32(0, "x", M * K);
    const float* bias = a.f32(7, "bias", N, true);
    float* y = a.f32(8, "y", M * N);
    g_table->quantMatmulQ8(format == "int8" ? 0 : 1, x, M, data, scales, N, K, bias, y);
    return info.Env().Undefined();
  });
}

// allocWeights(bytes): a zero-filled ArrayBuffer for weights that are streamed from memory every token (decoding),
// aligned to 2 MiB and, on Linux, advised for transparent huge pages before first touch: one TLB entry per 2 MiB
// instead of 512, and the hardware prefetchers are not stopped at every 4 KiB page boundary.
static Napi::Value AllocWeights(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "allocWeights"};
    a.count(1);
    const long bytes = a.integer(0, "bytes");
    constexpr size_t kAlign = 2u << 20;
    const size_t size = ((size_t)std::max(bytes, 1L) + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, size);
    if (!p) a.fail("out of memory allocating " + std::to_string(bytes) + " bytes of weights", true);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, size, MADV_HUGEPAGE);
#endif
    std::memset(p, 0, size);
    return Napi::ArrayBuffer::New(info.Env(), p, (size_t)bytes, [](Napi::Env, void* data) { std::free(data); });
  });
}

// ------------------------------------------------------------------ info and settings

static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("simd", Napi::String::New(env, g_table->simd));
  o.Set("threads", Napi::Number::New(env, g_threads));
  // how the quantised matmuls multiply q8 activations: dpbusd (AVX512-VNNI), maddubs (AVX2 / AVX-512), plain C
  const std::string quantDot = g_table == table_avx512vnni() ? "vnni" : std::string(g_table->simd) == "scalar" ? "scalar" : "maddubs";
  o.Set("quantDot", Napi::String::New(env, quantDot));
  o.Set("bf16", Napi::Boolean::New(env, g_bf16));
  o.Set("bf16Path", Napi::String::New(env, g_bf16Path));
  o.Set("cores", Napi::Number::New(env, omp_get_num_procs()));
  Napi::Array avail = Napi::Array::New(env);
  uint32_t k = 0;
  if (cpuHasAvx512()) avail.Set(k++, Napi::String::New(env, "avx512"));
  if (cpuHasAvx2()) avail.Set(k++, Napi::String::New(env, "avx2"));
  avail.Set(k++, Napi::String::New(env, "scalar"));
  o.Set("available", avail);
  return o;
}

// fmaPeak(threads, seconds): GFLOP/s of independent FMA chains on `threads` threads at once (the current SIMD level),
// the best of a few rounds: the machine's FMA ceiling for "% of peak" in the benchmarks.
static Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "fmaPeak"};
    a.count(2);
    const int nt = (int)std::min<long>(a.integer(0, "threads", 1), 1024);
    if (!info[1].IsNumber()) a.fail("seconds must be a number");
    const double seconds = std::clamp(info[1].As<Napi::Number>().DoubleValue(), 0.01, 10.0);
    const KernelTable* t = g_table;
    long iters = 1L << 16;
    double best = 0.0;
    for (double spent = 0.0; spent < seconds;) {
      double flops = 0.0;
      const double t0 = omp_get_wtime();
#pragma omp parallel num_threads(nt) reduction(+ : flops)
      flops += t->fmaChains(iters);
      const double dt = omp_get_wtime() - t0;
      spent += dt;
      if (dt < 0.02) iters *= 2;
      else best = std::max(best, flops / dt / 1e9);
    }
    return Napi::Number::New(info.Env(), best);
  });
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "setThreads"};
    a.count(1);
    g_threads = (int)std::min<long>(a.integer(0, "threads", 1), 1024);
    return Napi::Number::New(info.Env(), g_threads);
  });
}

static Napi::Value SetSimd(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "setSimd"};
    a.count(1);
    if (!info[0].IsString()) a.fail("level must be a string: auto, avx512, avx2 or scalar");
    const std::string want = info[0].As<Napi::String>().Utf8Value();
    if (!selectSimd(want)) a.fail("SIMD level '" + want + "' is unknown or not supported by this CPU", true);
    return Napi::String::New(info.Env(), g_table->simd);
  });
}

static Napi::Value SetBf16Path(const Napi::CallbackInfo& info) {
  return wrap(info, [&]() -> Napi::Value {
    Args a{info, "setBf16Path"};
    a.count(1);
    const std::string want = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (want == "amx" && g_bf16 && amx_available()) g_bf16Path = "amx";
    else if (want == "avx512bf16" && g_bf16) g_bf16Path = "avx512bf16";
    else if (want == "auto") g_bf16Path = !g_bf16 ? "none" : amx_available() ? "amx" : "avx512bf16";
    else a.fail("bf16 path '" + want + "' is unknown or not supported here (auto, amx, avx512bf16)", true);
    return Napi::String::New(info.Env(), g_bf16Path);
  });
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const char* t = std::getenv("LLMFORGE_THREADS");
  const long want = t ? std::atol(t) : 0;
  g_threads = want > 0 ? (int)std::min<long>(want, 1024) : std::max(1, omp_get_num_procs());
  const char* wait = std::getenv("OMP_WAIT_POLICY");  // libgomp read it when it loaded, just before us
  g_spinWaits = wait && (std::string(wait) == "active" || std::string(wait) == "ACTIVE");
  const char* simd = std::getenv("LLMFORGE_SIMD");
  if (!simd || !selectSimd(simd)) selectSimd("auto");
  g_bf16 = cpuHasBf16();
  g_bf16Path = !g_bf16 ? "none" : amx_available() ? "amx" : "avx512bf16";
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak));
  exports.Set("setSimd", Napi::Function::New(env, SetSimd));
  exports.Set("setBf16Path", Napi::Function::New(env, SetBf16Path));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmBf16", Napi::Function::New(env, GemmBf16));
  exports.Set("gemmPair", Napi::Function::New(env, GemmPair));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("unaryBackward", Napi::Function::New(env, UnaryBackward));
  exports.Set("sumAxis", Napi::Function::New(env, SumAxis));
  exports.Set("maxAxis", Napi::Function::New(env, MaxAxis));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
  exports.Set("embedding", Napi::Function::New(env, Embedding));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("rope", Napi::Function::New(env, Rope));
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  exports.Set("kvAppend", Napi::Function::New(env, KvAppend));
  exports.Set("decodeAttention", Napi::Function::New(env, DecodeAttention));
  exports.Set("packWeight", Napi::Function::New(env, PackWeight));
  exports.Set("gemmPacked", Napi::Function::New(env, GemmPacked));
  exports.Set("quantMatmul", Napi::Function::New(env, QuantMatmul));
  exports.Set("quantMatmulQ8", Napi::Function::New(env, QuantMatmulQ8));
  exports.Set("allocWeights", Napi::Function::New(env, AllocWeights));
  return exports;
}

}  // namespace llmf

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return llmf::Init(env, exports); }
NODE_API_MODULE(llmforge_native, InitModule)
