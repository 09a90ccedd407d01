// Every non-GEMM kernel of the Kernels interface (src/tensor/backend/kernels.ts), written once over the
// ISA's vector type V, threaded on the caller's team (team.h); semantics follow src/tensor/backend/ref.ts
// exactly (that is the oracle).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>
#include <new>
#include "dispatch.h"
#include "gemm_impl.h"

namespace LLMF_NS {

using llmf::AdamWParams;
using llmf::AttnParams;
using llmf::kMaxDims;

// What the threads of one parallelRegion share: its barrier and a task counter per work-shared loop.
struct RegionShared {
  static constexpr int kLoops = 8;
  llmf::TeamBarrier bar;
  long next[kLoops] = {};
};

// One thread's view of a parallelRegion: its index in the team, the team's size, and loops whose iterations the
// team shares out, each ending at a barrier (as an OpenMP `omp for` without nowait).
struct Region {
  int tid, nt;
  RegionShared* shared;
  int loops = 0;
  void barrier() {
    if (nt > 1) shared->bar.wait(nt);
  }
  // body(i) for i < n, iterations handed out one at a time.
  template <class F>
  void forDynamic(long n, F&& body) {
    takeEach(&shared->next[loops++], n, body);
    barrier();
  }
  // body(i) for i < n, in contiguous blocks, one a thread.
  template <class F>
  void forStatic(long n, F&& body) {
    ++loops;
    for (long i = n * tid / nt; i < n * (tid + 1) / nt; ++i) body(i);
    barrier();
  }
};

// body(Region&) on each of nt threads of the caller's team, or one plain call when nt == 1 (its loops then run whole
// on the calling thread).
template <class F>
inline void parallelRegion(int nt, F&& body) {
  RegionShared shared;
  auto run = [&](int tid, int team) {
    Region r{tid, team, &shared};
    body(r);
  };
  if (nt > 1) {
    llmf::teamParallel(nt, run);
  } else {
    run(0, 1);
  }
}

// Threads worth using for `work` units (elements or multiply-adds): 1 below the grain.
inline int threadsFor(double work) {
  const int nt = llmf::threads();
  const double grain = (double)llmf::parallelGrain();
  if (work < grain || nt <= 1) return 1;
  return std::max(1, std::min<int>(nt, (int)(work / grain)));
}

// ---------------------------------------------------------------- strided iteration

// Drops size-1 dims and merges dims contiguous in every operand. Returns the new rank (>= 1).
inline int collapseDims(int nd, const long* shape, const long* const* strides, int nops, long* oshape,
                        long (*ostr)[kMaxDims]) {
  int k = 0;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    if (k > 0) {
      bool mergeable = true;
      for (int o = 0; o < nops; ++o)
        if (ostr[o][k - 1] != strides[o][d] * shape[d]) mergeable = false;
      if (mergeable) {
        oshape[k - 1] *= shape[d];
        for (int o = 0; o < nops; ++o) ostr[o][k - 1] = strides[o][d];
        continue;
      }
    }
    oshape[k] = shape[d];
    for (int o = 0; o < nops; ++o) ostr[o][k] = strides[o][d];
    ++k;
  }
  if (k == 0) {
    oshape[0] = 1;
    for (int o = 0; o < nops; ++o) ostr[o][0] = 0;
    k = 1;
  }
  return k;
}

// Calls f(row, off0, off1) for rows [r0, r1) of the outer dims (all dims but the last).
template <class F>
inline void forOuterRows(int nd, const long* shape, const long* s0, const long* s1, long r0, long r1, F&& f) {
  const int no = nd - 1;
  long idx[kMaxDims];
  long o0 = 0, o1 = 0, rem = r0;
  for (int d = no - 1; d >= 0; --d) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
    o0 += idx[d] * s0[d];
    o1 += idx[d] * s1[d];
  }
  for (long r = r0; r < r1; ++r) {
    f(r, o0, o1);
    for (int d = no - 1; d >= 0; --d) {
      ++idx[d];
      o0 += s0[d];
      o1 += s1[d];
      if (idx[d] < shape[d]) break;
      o0 -= s0[d] * shape[d];
      o1 -= s1[d] * shape[d];
      idx[d] = 0;
    }
  }
}

inline void copyStrided(const float* x, const long* xs, float* out, const long* shape, int nd) {
  long total = 1;
  for (int d = 0; d < nd; ++d) total *= shape[d];
  if (total == 0) return;
  const long* strides[1] = {xs};
  long cs[kMaxDims], cst[1][kMaxDims];
  const int k = collapseDims(nd, shape, strides, 1, cs, cst);
  const long inner = cs[k - 1], is = cst[0][k - 1];
  const long rows = total / inner;
  const long zero[kMaxDims] = {0};
  const int nt = threadsFor((double)total);
  parallelFor(nt, nt, [&](int t) {
    if (rows >= nt || rows > 1) {
      forOuterRows(k, cs, cst[0], zero, rows * t / nt, rows * (t + 1) / nt, [&](long r, long o, long) {
        float* dst = out + r * inner;
        const float* src = x + o;
        if (is == 1) std::memcpy(dst, src, sizeof(float) * inner);
        else for (long i = 0; i < inner; ++i) dst[i] = src[i * is];
      });
    } else {
      const long i0 = inner * t / nt, i1 = inner * (t + 1) / nt;
      if (is == 1) std::memcpy(out + i0, x + i0, sizeof(float) * (i1 - i0));
      else for (long i = i0; i < i1; ++i) out[i] = x[i * is];
    }
  });
}

// ---------------------------------------------------------------- binary

template <int OP>
inline V::R binV(V::R a, V::R b) {
  if constexpr (OP == llmf::B_ADD) return V::add(a, b);
  else if constexpr (OP == llmf::B_SUB) return V::sub(a, b);
  else if constexpr (OP == llmf::B_MUL) return V::mul(a, b);
  else if constexpr (OP == llmf::B_DIV) return V::div(a, b);
  else if constexpr (OP == llmf::B_MAX) return V::selGe(a, b);
  else return V::selLe(a, b);
}
template <int OP>
inline float binS(float a, float b) {
  if constexpr (OP == llmf::B_ADD) return a + b;
  else if constexpr (OP == llmf::B_SUB) return a - b;
  else if constexpr (OP == llmf::B_MUL) return a * b;
  else if constexpr (OP == llmf::B_DIV) return a / b;
  else if constexpr (OP == llmf::B_POW) return std::pow(a, b);
  else if constexpr (OP == llmf::B_MAX) return a >= b ? a : b;
  else return a <= b ? a : b;
}

// out[i] = a[i*sa] op b[i*sb] for i < n, with vector fast paths for unit and zero strides.
template <int OP>
inline void binaryRow(const float* a, long sa, const float* b, long sb, float* out, long n) {
  constexpr int W = V::W;
  long i = 0;
  if constexpr (OP != llmf::B_POW) {
    if (sa == 1 && sb == 1) {
      for (; i + W <= n; i += W) V::store(out + i, binV<OP>(V::load(a + i), V::load(b + i)));
    } else if (sa == 1 && sb == 0) {
      const V::R bv = V::set1(*b);
      for (; i + W <= n; i += W) V::store(out + i, binV<OP>(V::load(a + i), bv));
    } else if (sa == 0 && sb == 1) {
      const V::R av = V::set1(*a);
      for (; i + W <= n; i += W) V::store(out + i, binV<OP>(av, V::load(b + i)));
    }
  }
  for (; i < n; ++i) out[i] = binS<OP>(a[i * sa], b[i * sb]);
}

template <int OP>
inline void binaryT(const float* a, const long* as, const float* b, const long* bs, float* out, const long* shape,
                    int nd) {
  long total = 1;
  for (int d = 0; d < nd; ++d) total *= shape[d];
  if (total == 0) return;
  const long* strides[2] = {as, bs};
  long cs[kMaxDims], cst[2][kMaxDims];
  const int k = collapseDims(nd, shape, strides, 2, cs, cst);
  const long inner = cs[k - 1], sa = cst[0][k - 1], sb = cst[1][k - 1];
  const long rows = total / inner;
  const int nt = threadsFor((double)total * (OP == llmf::B_POW ? 8 : 1));
  parallelFor(nt, nt, [&](int t) {
    if (rows > 1) {
      forOuterRows(k, cs, cst[0], cst[1], rows * t / nt, rows * (t + 1) / nt, [&](long r, long oa, long ob) {
        binaryRow<OP>(a + oa, sa, b + ob, sb, out + r * inner, inner);
      });
    } else {
      const long i0 = inner * t / nt, i1 = inner * (t + 1) / nt;
      binaryRow<OP>(a + i0 * sa, sa, b + i0 * sb, sb, out + i0, i1 - i0);
    }
  });
}

inline void binary(int op, const float* a, const long* as, const float* b, const long* bs, float* out,
                   const long* shape, int nd) {
  switch (op) {
    case llmf::B_ADD: return binaryT<llmf::B_ADD>(a, as, b, bs, out, shape, nd);
    case llmf::B_SUB: return binaryT<llmf::B_SUB>(a, as, b, bs, out, shape, nd);
    case llmf::B_MUL: return binaryT<llmf::B_MUL>(a, as, b, bs, out, shape, nd);
    case llmf::B_DIV: return binaryT<llmf::B_DIV>(a, as, b, bs, out, shape, nd);
    case llmf::B_POW: return binaryT<llmf::B_POW>(a, as, b, bs, out, shape, nd);
    case llmf::B_MAX: return binaryT<llmf::B_MAX>(a, as, b, bs, out, shape, nd);
    default: return binaryT<llmf::B_MIN>(a, as, b, bs, out, shape, nd);
  }
}

// ---------------------------------------------------------------- unary

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

// gelu(x) = 0.5 x (1 + tanh(u)) = x * s with s = sigmoid(2u), u = c (x + a x^3); written with one exp so
// that 1 + tanh(u) and 1 - tanh(u)^2 = 4 s (1 - s) keep their relative accuracy in the tails.
inline float geluS(float x) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  return x / (1.0f + std::exp(std::min(-2.0f * u, 80.0f)));
}
inline float geluGradS(float x) {
  const float u = kGeluC * (x + kGeluA * x * x * x);
  const float e = std::exp(std::min(-2.0f * u, 80.0f));
  const float s = 1.0f / (1.0f + e);
  return s + 2.0f * x * s * (e * s) * kGeluC * (1.0f + 3.0f * kGeluA * x * x);
}
inline float sigmoidS(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Vector f(x) where the op has one (returns false for ops computed with libm per element).
template <int OP>
inline V::R unaryV(V::R x) {
  const V::R one = V::set1(1.0f);
  if constexpr (OP == llmf::U_NEG) return V::sub(V::zero(), x);
  else if constexpr (OP == llmf::U_EXP) return V::exp(x);
  else if constexpr (OP == llmf::U_SQRT) return V::sqrt(x);
  else if constexpr (OP == llmf::U_RSQRT) return V::div(one, V::sqrt(x));
  else if constexpr (OP == llmf::U_ABS) return V::abs(x);
  else if constexpr (OP == llmf::U_SIGMOID) return vsigmoid(x);
  else if constexpr (OP == llmf::U_RELU) return V::selGt0(x, x, V::zero());
  else if constexpr (OP == llmf::U_GELU) {
    const V::R u = V::mul(V::set1(kGeluC), V::fma(V::mul(V::set1(kGeluA), x), V::mul(x, x), x));
    const V::R e = V::exp(V::min(V::set1(80.0f), V::mul(V::set1(-2.0f), u)));
    return V::div(x, V::add(one, e));
  } else if constexpr (OP == llmf::U_SILU) return V::div(x, V::add(one, V::exp(V::sub(V::zero(), x))));
  else if constexpr (OP == llmf::U_SQUARE) return V::mul(x, x);
  else return V::div(one, x);  // U_RECIP
}
template <int OP>
inline float unaryS(float x) {
  if constexpr (OP == llmf::U_NEG) return -x;
  else if constexpr (OP == llmf::U_EXP) return std::exp(x);
  else if constexpr (OP == llmf::U_LOG) return std::log(x);
  else if constexpr (OP == llmf::U_SQRT) return std::sqrt(x);
  else if constexpr (OP == llmf::U_RSQRT) return 1.0f / std::sqrt(x);
  else if constexpr (OP == llmf::U_ABS) return std::fabs(x);
  else if constexpr (OP == llmf::U_TANH) return std::tanh(x);
  else if constexpr (OP == llmf::U_SIGMOID) return sigmoidS(x);
  else if constexpr (OP == llmf::U_RELU) return x > 0.0f ? x : 0.0f;
  else if constexpr (OP == llmf::U_GELU) return geluS(x);
  else if constexpr (OP == llmf::U_SILU) return x / (1.0f + std::exp(-x));
  else if constexpr (OP == llmf::U_SQUARE) return x * x;
  else return 1.0f / x;
}
// f'(x), vector form (for the ops that have one).
template <int OP>
inline V::R unaryGradV(V::R x) {
  const V::R one = V::set1(1.0f);
  if constexpr (OP == llmf::U_NEG) return V::set1(-1.0f);
  else if constexpr (OP == llmf::U_EXP) return V::exp(x);
  else if constexpr (OP == llmf::U_LOG) return V::div(one, x);
  else if constexpr (OP == llmf::U_SQRT) return V::div(V::set1(0.5f), V::sqrt(x));
  else if constexpr (OP == llmf::U_RSQRT) return V::div(V::set1(-0.5f), V::mul(x, V::sqrt(x)));
  else if constexpr (OP == llmf::U_SIGMOID) {
    const V::R s = vsigmoid(x);
    return V::mul(s, V::sub(one, s));
  } else if constexpr (OP == llmf::U_RELU) return V::selGt0(x, one, V::zero());
  else if constexpr (OP == llmf::U_GELU) {
    const V::R x2 = V::mul(x, x);
    const V::R u = V::mul(V::set1(kGeluC), V::fma(V::mul(V::set1(kGeluA), x), x2, x));
    const V::R e = V::exp(V::min(V::set1(80.0f), V::mul(V::set1(-2.0f), u)));
    const V::R s = V::div(one, V::add(one, e));
    const V::R t = V::mul(V::mul(V::set1(2.0f * kGeluC), x), V::mul(s, V::mul(e, s)));
    return V::fma(t, V::fma(V::set1(3.0f * kGeluA), x2, one), s);
  } else if constexpr (OP == llmf::U_SILU) {
    const V::R s = vsigmoid(x);
    return V::mul(s, V::fma(x, V::sub(one, s), one));
  } else if constexpr (OP == llmf::U_SQUARE) return V::add(x, x);
  else return V::div(V::set1(-1.0f), V::mul(x, x));  // U_RECIP
}
template <int OP>
inline float unaryGradS(float x) {
  if constexpr (OP == llmf::U_NEG) return -1.0f;
  else if constexpr (OP == llmf::U_EXP) return std::exp(x);
  else if constexpr (OP == llmf::U_LOG) return 1.0f / x;
  else if constexpr (OP == llmf::U_SQRT) return 0.5f / std::sqrt(x);
  else if constexpr (OP == llmf::U_RSQRT) return -0.5f / (x * std::sqrt(x));
  else if constexpr (OP == llmf::U_ABS) return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f;
  else if constexpr (OP == llmf::U_TANH) {
    const float t = std::tanh(x);
    return 1.0f - t * t;
  } else if constexpr (OP == llmf::U_SIGMOID) {
    const float s = sigmoidS(x);
    return s * (1.0f - s);
  } else if constexpr (OP == llmf::U_RELU) return x > 0.0f ? 1.0f : 0.0f;
  else if constexpr (OP == llmf::U_GELU) return geluGradS(x);
  else if constexpr (OP == llmf::U_SILU) {
    const float s = sigmoidS(x);
    return s * (1.0f + x * (1.0f - s));
  } else if constexpr (OP == llmf::U_SQUARE) return 2.0f * x;
  else return -1.0f / (x * x);
}
// Ops computed per element with libm (no vector form above).
constexpr bool unaryScalarOnly(int op) { return op == llmf::U_LOG || op == llmf::U_TANH; }
constexpr bool unaryGradScalarOnly(int op) { return op == llmf::U_ABS || op == llmf::U_TANH; }

template <int OP>
inline void unaryT(const float* x, float* out, long n) {
  const int nt = threadsFor((double)n * 4);
  parallelFor(nt, nt, [&](int t) {
    long i = n * t / nt;
    const long i1 = n * (t + 1) / nt;
    if constexpr (!unaryScalarOnly(OP))
      for (; i + V::W <= i1; i += V::W) V::store(out + i, unaryV<OP>(V::load(x + i)));
    for (; i < i1; ++i) out[i] = unaryS<OP>(x[i]);
  });
}
template <int OP>
inline void unaryBackwardT(const float* x, const float* gy, float* gx, long n) {
  const int nt = threadsFor((double)n * 4);
  parallelFor(nt, nt, [&](int t) {
    long i = n * t / nt;
    const long i1 = n * (t + 1) / nt;
    if constexpr (!unaryGradScalarOnly(OP))
      for (; i + V::W <= i1; i += V::W) V::store(gx + i, V::mul(V::load(gy + i), unaryGradV<OP>(V::load(x + i))));
    for (; i < i1; ++i) gx[i] = gy[i] * unaryGradS<OP>(x[i]);
  });
}

#define LLMF_UNARY_SWITCH(FN, ...)                              \
  switch (op) {                                                 \
    case llmf::U_NEG: return FN<llmf::U_NEG>(__VA_ARGS__);       \
    case llmf::U_EXP: return FN<llmf::U_EXP>(__VA_ARGS__);       \
    case llmf::U_LOG: return FN<llmf::U_LOG>(__VA_ARGS__);       \
    case llmf::U_SQRT: return FN<llmf::U_SQRT>(__VA_ARGS__);     \
    case llmf::U_RSQRT: return FN<llmf::U_RSQRT>(__VA_ARGS__);   \
    case llmf::U_ABS: return FN<llmf::U_ABS>(__VA_ARGS__);       \
    case llmf::U_TANH: return FN<llmf::U_TANH>(__VA_ARGS__);     \
    case llmf::U_SIGMOID: return FN<llmf::U_SIGMOID>(__VA_ARGS__); \
    case llmf::U_RELU: return FN<llmf::U_RELU>(__VA_ARGS__);     \
    case llmf::U_GELU: return FN<llmf::U_GELU>(__VA_ARGS__);     \
    case llmf::U_SILU: return FN<llmf::U_SILU>(__VA_ARGS__);     \
    case llmf::U_SQUARE: return FN<llmf::U_SQUARE>(__VA_ARGS__); \
    default: return FN<llmf::U_RECIP>(__VA_ARGS__);              \
  }

inline void unary(int op, const float* x, float* out, long n) { LLMF_UNARY_SWITCH(unaryT, x, out, n) }
inline void unaryBackward(int op, const float* x, const float* gy, float* gx, long n) {
  LLMF_UNARY_SWITCH(unaryBackwardT, x, gy, gx, n)
}

// ---------------------------------------------------------------- reductions

// Sum of n contiguous floats with 4 vector accumulators.
inline float rowSum(const float* x, long n) {
  constexpr int W = V::W;
  V::R s0 = V::zero(), s1 = V::zero(), s2 = V::zero(), s3 = V::zero();
  long i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 = V::add(s0, V::load(x + i));
    s1 = V::add(s1, V::load(x + i + W));
    s2 = V::add(s2, V::load(x + i + 2 * W));
    s3 = V::add(s3, V::load(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) s0 = V::add(s0, V::load(x + i));
  float s = V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
  for (; i < n; ++i) s += x[i];
  return s;
}
inline float rowMax(const float* x, long n) {
  constexpr int W = V::W;
  float m = -std::numeric_limits<float>::infinity();
  long i = 0;
  if (n >= W) {
    V::R mv = V::set1(m);
    for (; i + W <= n; i += W) mv = V::max(mv, V::load(x + i));
    m = V::hmax(mv);
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
// sum_i x[i]*y[i]
inline float rowDot(const float* x, const float* y, long n) {
  constexpr int W = V::W;
  V::R s0 = V::zero(), s1 = V::zero();
  long i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 = V::fma(V::load(x + i), V::load(y + i), s0);
    s1 = V::fma(V::load(x + i + W), V::load(y + i + W), s1);
  }
  for (; i + W <= n; i += W) s0 = V::fma(V::load(x + i), V::load(y + i), s0);
  float s = V::hsum(V::add(s0, s1));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

inline void sumAxis(const float* x, float* out, long outer, long dim, long inner) {
  const long nOut = outer * inner;
  if (nOut == 0) return;
  const int nt = threadsFor((double)nOut * std::max<long>(dim, 1));
  if (inner == 1) {
    parallelFor(nt, outer, [&](long o) { out[o] = rowSum(x + o * dim, dim); });
    return;
  }
  // Threads split (outer x inner-chunks); each output chunk sums dim contiguous rows.
  const long chunk = 512;
  const long nc = (inner + chunk - 1) / chunk;
  parallelFor(nt, outer * nc, [&](long job) {
    const long o = job / nc, i0 = (job % nc) * chunk, i1 = std::min(inner, i0 + chunk);
    float* dst = out + o * inner;
    for (long i = i0; i < i1; ++i) dst[i] = 0.0f;
    for (long d = 0; d < dim; ++d) {
      const float* src = x + (o * dim + d) * inner;
      long i = i0;
      for (; i + V::W <= i1; i += V::W) V::store(dst + i, V::add(V::load(dst + i), V::load(src + i)));
      for (; i < i1; ++i) dst[i] += src[i];
    }
  });
}

inline void maxAxis(const float* x, float* out, int32_t* arg, long outer, long dim, long inner) {
  const long nOut = outer * inner;
  if (nOut == 0) return;
  const int nt = threadsFor((double)nOut * std::max<long>(dim, 1));
  parallelFor(nt, nOut, [&](long j) {
    const long o = j / inner, i = j % inner;
    const float* src = x + o * dim * inner + i;
    float best = -std::numeric_limits<float>::infinity();
    int32_t bi = 0;
    for (long d = 0; d < dim; ++d) {
      const float v = src[d * inner];
      if (v > best || v != v) {
        best = v;
        bi = (int32_t)d;
        if (v != v) break;
      }
    }
    out[j] = best;
    arg[j] = bi;
  });
}

// ---------------------------------------------------------------- softmax

inline void softmax(const float* x, float* out, long rows, long cols, bool log) {
  const int nt = threadsFor((double)rows * cols * 4);
  parallelFor(nt, rows, [&](long r) {
    const float* xr = x + r * cols;
    float* yr = out + r * cols;
    const float mx = rowMax(xr, cols);
    const V::R mv = V::set1(mx);
    V::R sv = V::zero();
    long j = 0;
    for (; j + V::W <= cols; j += V::W) {
      const V::R e = V::exp(V::sub(V::load(xr + j), mv));
      sv = V::add(sv, e);
      if (!log) V::store(yr + j, e);
    }
    float sum = V::hsum(sv);
    for (; j < cols; ++j) {
      const float e = std::exp(xr[j] - mx);
      sum += e;
      if (!log) yr[j] = e;
    }
    if (log) {
      const V::R lv = V::set1(mx + std::log(sum));
      j = 0;
      for (; j + V::W <= cols; j += V::W) V::store(yr + j, V::sub(V::load(xr + j), lv));
      for (; j < cols; ++j) yr[j] = xr[j] - (mx + std::log(sum));
    } else {
      const V::R iv = V::set1(1.0f / sum);
      j = 0;
      for (; j + V::W <= cols; j += V::W) V::store(yr + j, V::mul(V::load(yr + j), iv));
      for (; j < cols; ++j) yr[j] *= 1.0f / sum;
    }
  });
}

inline void softmaxBackward(const float* y, const float* gy, float* gx, long rows, long cols, bool log) {
  const int nt = threadsFor((double)rows * cols * 2);
  parallelFor(nt, rows, [&](long r) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* xr = gx + r * cols;
    long j = 0;
    if (log) {
      const float s = rowSum(gr, cols);
      const V::R sv = V::set1(s);
      for (; j + V::W <= cols; j += V::W) V::store(xr + j, V::fnma(V::exp(V::load(yr + j)), sv, V::load(gr + j)));
      for (; j < cols; ++j) xr[j] = gr[j] - std::exp(yr[j]) * s;
    } else {
      const float s = rowDot(gr, yr, cols);
      const V::R sv = V::set1(s);
      for (; j + V::W <= cols; j += V::W) V::store(xr + j, V::mul(V::load(yr + j), V::sub(V::load(gr + j), sv)));
      for (; j < cols; ++j) xr[j] = yr[j] * (gr[j] - s);
    }
  });
}

// ---------------------------------------------------------------- norms

// One value per lane of w (or 1 when w is null).
inline V::R wOr1(const float* w, long j) { return w ? V::load(w + j) : V::set1(1.0f); }
inline float wOr1S(const float* w, long j) { return w ? w[j] : 1.0f; }

inline void layerNorm(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd,
                      long rows, long cols, float eps) {
  const int nt = threadsFor((double)rows * cols * 3);
  parallelFor(nt, rows, [&](long r) {
    const float* xr = x + r * cols;
    float* yr = out + r * cols;
    const float mu = rowSum(xr, cols) / (float)cols;
    const V::R mv = V::set1(mu);
    V::R vs = V::zero();
    long j = 0;
    for (; j + V::W <= cols; j += V::W) {
      const V::R d = V::sub(V::load(xr + j), mv);
      vs = V::fma(d, d, vs);
    }
    float var = V::hsum(vs);
    for (; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    const float rs = 1.0f / std::sqrt(var / (float)cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    const V::R rv = V::set1(rs);
    j = 0;
    for (; j + V::W <= cols; j += V::W) {
      const V::R xh = V::mul(V::sub(V::load(xr + j), mv), rv);
      V::store(yr + j, V::fma(xh, wOr1(w, j), b ? V::load(b + j) : V::zero()));
    }
    for (; j < cols; ++j) yr[j] = (xr[j] - mu) * rs * wOr1S(w, j) + (b ? b[j] : 0.0f);
  });
}

// Per-thread partial sums for weight/bias gradients, reduced after the parallel loop (race-free).
struct Partials {
  std::vector<float> buf;
  long cols = 0;
  int parts = 0;
  Partials(int nt, long cols_, int perThread) : buf((size_t)nt * cols_ * perThread, 0.0f), cols(cols_), parts(perThread) {}
  float* at(int tid, int which) { return buf.data() + ((size_t)tid * parts + which) * cols; }
  void reduceInto(float* dst, int which, int nt) {
    if (!dst) return;
    for (int t = 0; t < nt; ++t) {
      const float* s = at(t, which);
      for (long j = 0; j < cols; ++j) dst[j] += s[j];
    }
  }
};

inline void layerNormBackward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                              float* gx, float* gw, float* gb, long rows, long cols) {
  const int nt = threadsFor((double)rows * cols * 4);
  Partials part(nt, cols, 2);
  const float invC = 1.0f / (float)cols;
  parallelRegion(nt, [&](Region& reg) {
    const int tid = reg.tid, team = reg.nt;
    float* pgw = part.at(tid, 0);
    float* pgb = part.at(tid, 1);
    for (long r = rows * tid / team; r < rows * (tid + 1) / team; ++r) {
      const float* xr = x + r * cols;
      const float* gr = gy + r * cols;
      float* dr = gx + r * cols;
      const V::R mv = V::set1(mean[r]), rv = V::set1(rstd[r]);
      V::R sg = V::zero(), sgx = V::zero();
      long j = 0;
      for (; j + V::W <= cols; j += V::W) {
        const V::R xh = V::mul(V::sub(V::load(xr + j), mv), rv);
        const V::R gyv = V::load(gr + j);
        const V::R g = V::mul(gyv, wOr1(w, j));
        sg = V::add(sg, g);
        sgx = V::fma(g, xh, sgx);
        V::store(pgw + j, V::fma(gyv, xh, V::load(pgw + j)));
        V::store(pgb + j, V::add(gyv, V::load(pgb + j)));
      }
      float sumG = V::hsum(sg), sumGX = V::hsum(sgx);
      for (; j < cols; ++j) {
        const float xh = (xr[j] - mean[r]) * rstd[r];
        const float g = gr[j] * wOr1S(w, j);
        sumG += g;
        sumGX += g * xh;
        pgw[j] += gr[j] * xh;
        pgb[j] += gr[j];
      }
      const V::R a = V::set1(sumG * invC), c = V::set1(sumGX * invC);
      j = 0;
      for (; j + V::W <= cols; j += V::W) {
        const V::R xh = V::mul(V::sub(V::load(xr + j), mv), rv);
        const V::R g = V::mul(V::load(gr + j), wOr1(w, j));
        V::store(dr + j, V::mul(rv, V::fnma(xh, c, V::sub(g, a))));
      }
      for (; j < cols; ++j) {
        const float xh = (xr[j] - mean[r]) * rstd[r];
        const float g = gr[j] * wOr1S(w, j);
        dr[j] = rstd[r] * (g - sumG * invC - xh * sumGX * invC);
      }
    }
  });
  part.reduceInto(gw, 0, nt);
  part.reduceInto(gb, 1, nt);
}

inline void rmsNorm(const float* x, const float* w, float* out, float* rstd, long rows, long cols, float eps) {
  const int nt = threadsFor((double)rows * cols * 2);
  parallelFor(nt, rows, [&](long r) {
    const float* xr = x + r * cols;
    float* yr = out + r * cols;
    const float rs = 1.0f / std::sqrt(rowDot(xr, xr, cols) / (float)cols + eps);
    rstd[r] = rs;
    const V::R rv = V::set1(rs);
    long j = 0;
    for (; j + V::W <= cols; j += V::W) V::store(yr + j, V::mul(V::mul(V::load(xr + j), rv), wOr1(w, j)));
    for (; j < cols; ++j) yr[j] = xr[j] * rs * wOr1S(w, j);
  });
}

inline void rmsNormBackward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                            long rows, long cols) {
  const int nt = threadsFor((double)rows * cols * 3);
  Partials part(nt, cols, 1);
  const float invC = 1.0f / (float)cols;
  parallelRegion(nt, [&](Region& reg) {
    const int tid = reg.tid, team = reg.nt;
    float* pgw = part.at(tid, 0);
    for (long r = rows * tid / team; r < rows * (tid + 1) / team; ++r) {
      const float* xr = x + r * cols;
      const float* gr = gy + r * cols;
      float* dr = gx + r * cols;
      const float rs = rstd[r];
      const V::R rv = V::set1(rs);
      V::R sgx = V::zero();
      long j = 0;
      for (; j + V::W <= cols; j += V::W) {
        const V::R xv = V::load(xr + j), gyv = V::load(gr + j);
        sgx = V::fma(V::mul(gyv, wOr1(w, j)), xv, sgx);
        V::store(pgw + j, V::fma(V::mul(gyv, xv), rv, V::load(pgw + j)));
      }
      float sumGX = V::hsum(sgx);
      for (; j < cols; ++j) {
        sumGX += gr[j] * wOr1S(w, j) * xr[j];
        pgw[j] += gr[j] * xr[j] * rs;
      }
      const float c = rs * rs * rs * sumGX * invC;
      const V::R cv = V::set1(c);
      j = 0;
      for (; j + V::W <= cols; j += V::W)
        V::store(dr + j, V::fnma(cv, V::load(xr + j), V::mul(rv, V::mul(V::load(gr + j), wOr1(w, j)))));
      for (; j < cols; ++j) dr[j] = rs * gr[j] * wOr1S(w, j) - c * xr[j];
    }
  });
  part.reduceInto(gw, 0, nt);
}

// ---------------------------------------------------------------- embedding

inline void embedding(const float* w, const int32_t* ids, float* out, long n, long dim) {
  const int nt = threadsFor((double)n * dim);
  parallelFor(nt, n, [&](long i) { std::memcpy(out + i * dim, w + (long)ids[i] * dim, sizeof(float) * dim); });
}

// Race-free scatter-add: thread t owns the weight rows with id % team == t and applies them in order.
inline void embeddingBackward(const float* gy, const int32_t* ids, float* gw, long n, long dim, long vocab) {
  (void)vocab;
  const int nt = threadsFor((double)n * dim);
  parallelRegion(nt, [&](Region& reg) {
    const int tid = reg.tid, team = reg.nt;
    for (long i = 0; i < n; ++i) {
      const long id = ids[i];
      if (id % team != tid) continue;
      float* dst = gw + id * dim;
      const float* src = gy + i * dim;
      long j = 0;
      for (; j + V::W <= dim; j += V::W) V::store(dst + j, V::add(V::load(dst + j), V::load(src + j)));
      for (; j < dim; ++j) dst[j] += src[j];
    }
  });
}

// ---------------------------------------------------------------- cross-entropy

inline void crossEntropy(const float* logits, const int32_t* targets, float* losses, float* lse, long rows, long vocab,
                         int32_t ignore) {
  const int nt = threadsFor((double)rows * vocab * 4);
  parallelFor(nt, rows, [&](long r) {
    const float* xr = logits + r * vocab;
    const float mx = rowMax(xr, vocab);
    const V::R mv = V::set1(mx);
    V::R s0 = V::zero(), s1 = V::zero();
    long j = 0;
    for (; j + 2 * V::W <= vocab; j += 2 * V::W) {
      s0 = V::add(s0, V::exp(V::sub(V::load(xr + j), mv)));
      s1 = V::add(s1, V::exp(V::sub(V::load(xr + j + V::W), mv)));
    }
    for (; j + V::W <= vocab; j += V::W) s0 = V::add(s0, V::exp(V::sub(V::load(xr + j), mv)));
    float sum = V::hsum(V::add(s0, s1));
    for (; j < vocab; ++j) sum += std::exp(xr[j] - mx);
    const float l = mx + std::log(sum);
    lse[r] = l;
    const int32_t t = targets[r];
    losses[r] = t == ignore ? 0.0f : l - xr[t];
  });
}

inline void crossEntropyBackward(const float* logits, const int32_t* targets, const float* lse, const float* gloss,
                                 float* glogits, long rows, long vocab, int32_t ignore) {
  const int nt = threadsFor((double)rows * vocab * 2);
  parallelFor(nt, rows, [&](long r) {
    float* gr = glogits + r * vocab;
    const int32_t t = targets[r];
    if (t == ignore) {
      std::memset(gr, 0, sizeof(float) * vocab);
      return;
    }
    const float* xr = logits + r * vocab;
    const float g = gloss[r];
    const V::R gv = V::set1(g), lv = V::set1(lse[r]);
    long j = 0;
    for (; j + V::W <= vocab; j += V::W) V::store(gr + j, V::mul(gv, V::exp(V::sub(V::load(xr + j), lv))));
    for (; j < vocab; ++j) gr[j] = g * std::exp(xr[j] - lse[r]);
    gr[t] -= g;
  });
}

// ---------------------------------------------------------------- rope

// `heads` rows of D at x rotated by the table row `tab` (cos, sin pairs; dims d and d + D/2 rotate together) into y,
// which may be x: each pair is read before it is written.
inline void ropeRows(const float* x, float* y, long heads, long D, const float* tab) {
  const long half = D / 2;
  for (long h = 0; h < heads; ++h) {
    const float* xr = x + h * D;
    float* yr = y + h * D;
    for (long i = 0; i < half; ++i) {
      const float c = tab[2 * i], s = tab[2 * i + 1];
      const float x1 = xr[i], x2 = xr[i + half];
      yr[i] = x1 * c - x2 * s;
      yr[i + half] = x1 * s + x2 * c;
    }
  }
}

inline void rope(const float* x, float* out, long B, long T, long H, long D, double base, double pos0, bool inverse) {
  const long half = D / 2;
  if (B * T * H * D == 0) return;
  // cos/sin table (T, half) in double precision, then rotate every (b, t, h) row.
  std::vector<float> cs((size_t)T * half * 2);
  for (long t = 0; t < T; ++t)
    for (long i = 0; i < half; ++i) {
      const double theta = (pos0 + (double)t) * std::pow(base, -(double)(2 * i) / (double)D);
      cs[(t * half + i) * 2] = (float)std::cos(theta);
      cs[(t * half + i) * 2 + 1] = (float)(inverse ? -std::sin(theta) : std::sin(theta));
    }
  const int nt = threadsFor((double)B * T * H * D * 2);
  parallelFor(nt, B * T, [&](long bt) { ropeRows(x + bt * H * D, out + bt * H * D, H, D, cs.data() + (bt % T) * half * 2); });
}

// ---------------------------------------------------------------- AdamW

inline void adamw(const AdamWParams& p) {
  const long n = p.n;
  const int nt = threadsFor((double)n * 4);
  const float b1 = p.beta1, b2 = p.beta2, ib1 = 1.0f - p.beta1, ib2 = 1.0f - p.beta2;
  parallelFor(nt, nt, [&](int t) {
    long i = n * t / nt;
    const long i1 = n * (t + 1) / nt;
    const V::R vb1 = V::set1(b1), vb2 = V::set1(b2), vib1 = V::set1(ib1), vib2 = V::set1(ib2);
    const V::R vbc1 = V::set1(p.bc1), vbc2 = V::set1(p.bc2), veps = V::set1(p.eps), vlr = V::set1(p.lr),
               vwd = V::set1(p.weightDecay);
    for (; i + V::W <= i1; i += V::W) {
      const V::R g = V::load(p.grad + i);
      const V::R m = V::fma(vb1, V::load(p.m + i), V::mul(vib1, g));
      const V::R v = V::fma(vb2, V::load(p.v + i), V::mul(V::mul(vib2, g), g));
      V::store(p.m + i, m);
      V::store(p.v + i, v);
      const V::R w = V::load(p.param + i);
      const V::R upd = V::fma(vwd, w, V::div(V::div(m, vbc1), V::add(V::sqrt(V::div(v, vbc2)), veps)));
      V::store(p.param + i, V::fnma(vlr, upd, w));
    }
    for (; i < i1; ++i) {
      const float g = p.grad[i];
      const float m = b1 * p.m[i] + ib1 * g;
      const float v = b2 * p.v[i] + ib2 * g * g;
      p.m[i] = m;
      p.v[i] = v;
      p.param[i] -= p.lr * ((m / p.bc1) / (std::sqrt(v / p.bc2) + p.eps) + p.weightDecay * p.param[i]);
    }
  });
}

// ---------------------------------------------------------------- attention (flash style)
// Tiles: BQ query rows x BK keys, RB query rows share each loaded key vector. Scores live in an RB x BK
// tile, never T x T. K (and V for the backward) are first transposed once into (B, Hkv, D, Tp) so score
// tiles are GEMM-like (broadcast q, vector over keys). Forward: online softmax over key tiles. Backward:
// probabilities recomputed from the saved lse; pass 1 owns key blocks (dK, dV race-free across the GQA
// head group), pass 2 owns query blocks (dQ).

constexpr long kBQ = 64, kBK = 64;
// Query rows per register tile (8 fit the 32 zmm registers) and vectors of D accumulated together
// (kRB x kNVD accumulators must stay in registers).
constexpr int kRB = V::W >= 16 ? 8 : 4;
constexpr int kNVD = V::W >= 16 ? 2 : V::W >= 8 ? 2 : 4;
static_assert(kBK % (2 * V::W) == 0, "key tile must be a multiple of two vectors");

// Row length of the transposed K/V: whole key tiles plus 16 floats, so rows d and d+1 do not alias in L1.
inline long paddedT(long T) { return (T + kBK - 1) / kBK * kBK + 16; }

// (B, T, Hkv, D) rows with stride rs -> contiguous (B, Hkv, T, D): key/value rows of one head adjacent.
inline void gatherKV(const float* x, long rs, long B, long T, long Hkv, long D, float* xc, int nt) {
  parallelFor(nt, B * Hkv, [&](long bh) {
    const long b = bh / Hkv, hk = bh % Hkv;
    for (long t = 0; t < T; ++t) std::memcpy(xc + (bh * T + t) * D, x + (b * T + t) * rs + hk * D, sizeof(float) * D);
  });
}

// (B, T, Hkv, D) rows with stride rs -> (B, Hkv, D, Tp), zero for t >= T. Parallel over (b, hk).
template <class VV = V>  // a template so the AVX-512-only branch is discarded for the other ISAs
inline void transposeKV(const float* x, long rs, long B, long T, long Hkv, long D, long Tp, float* xt, int nt) {
  parallelFor(nt, B * Hkv, [&](long bh) {
    const long b = bh / Hkv, hk = bh % Hkv;
    float* dst = xt + bh * D * Tp;
    const float* src = x + b * T * rs + hk * D;
    if constexpr (VV::W == 16) {
      // 16 (t) x 16 (d) blocks transposed in registers; rows past T load as zeros (Tp >= T rounded to 16).
      typename VV::R blk[16];
      for (long t0 = 0; t0 < T; t0 += 16) {
        for (long d0 = 0; d0 < D; d0 += 16) {
          const long dn = std::min<long>(16, D - d0);
#pragma GCC unroll 16
          for (int t = 0; t < 16; ++t) blk[t] = t0 + t < T ? V::loadn(src + (t0 + t) * rs + d0, dn, 0.0f) : V::zero();
          VV::transpose16(blk);
          for (long d = 0; d < dn; ++d) VV::store(dst + (d0 + d) * Tp + t0, blk[d]);
        }
      }
    } else {
      for (long t = 0; t < T; ++t)
        for (long d = 0; d < D; ++d) dst[d * Tp + t] = src[t * rs + d];
    }
    for (long d = 0; d < D; ++d)
      for (long t = T; t < Tp; ++t) dst[d * Tp + t] = 0.0f;
  });
}

// S[r*BK + jj] = scale * sum_d qr[r][d] * Kt[d*ld + jj] for r < RB, jj < BK.
inline void tileScores(const float* const* qr, const float* Kt, long ld, long D, float scale, float* S) {
  constexpr int W = V::W;
  const V::R sv = V::set1(scale);
  for (long jc = 0; jc < kBK; jc += 2 * W) {
    V::R acc[kRB][2];
#pragma GCC unroll 8
    for (int r = 0; r < kRB; ++r) acc[r][0] = acc[r][1] = V::zero();
    for (long d = 0; d < D; ++d) {
      const float* kt = Kt + d * ld + jc;
      const V::R k0 = V::load(kt), k1 = V::load(kt + W);
#pragma GCC unroll 8
      for (int r = 0; r < kRB; ++r) {
        const V::R a = V::set1(qr[r][d]);
        acc[r][0] = V::fma(a, k0, acc[r][0]);
        acc[r][1] = V::fma(a, k1, acc[r][1]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRB; ++r) {
      V::store(S + r * kBK + jc, V::mul(acc[r][0], sv));
      V::store(S + r * kBK + jc + W, V::mul(acc[r][1], sv));
    }
  }
}

// Loads vector v of a kNVD-vector group starting at d0 (zero past D).
inline V::R loadD(const float* row, long d0, int v, long D) {
  const long d = d0 + v * V::W;
  return d + V::W <= D ? V::load(row + d) : V::loadn(row + d, D - d, 0.0f);
}

// One group of NV vectors of D starting at d0; Tail: the last vector may run past D (masked loads).
template <int NV, bool Tail>
inline void rowsAccumGroup(const float* P, long jn, const float* rows, long rs, long d0, long D, float* O, long Dp) {
  constexpr int W = V::W;
  V::R acc[kRB][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kRB; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = V::load(O + r * Dp + d0 + v * W);
  for (long jj = 0; jj < jn; ++jj) {
    const float* src = rows + jj * rs;
    V::R vv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) vv[v] = Tail ? loadD(src, d0, v, D) : V::load(src + d0 + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < kRB; ++r) {
      const V::R p = V::set1(P[r * kBK + jj]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(p, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kRB; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) V::store(O + r * Dp + d0 + v * W, acc[r][v]);
}

// O[r*Dp + :D] += sum_{jj < jn} P[r*BK + jj] * rows[jj*rs + :D] for r < RB (O rows padded to Dp).
inline void rowsAccum(const float* P, long jn, const float* rows, long rs, long D, float* O, long Dp) {
  constexpr int W = V::W;
  long d0 = 0;
  for (; d0 + kNVD * W <= D; d0 += kNVD * W) rowsAccumGroup<kNVD, false>(P, jn, rows, rs, d0, D, O, Dp);
  const long nv = (D - d0 + W - 1) / W;
  if (nv == 1) rowsAccumGroup<1, true>(P, jn, rows, rs, d0, D, O, Dp);
  else if (nv == 2) rowsAccumGroup<2, true>(P, jn, rows, rs, d0, D, O, Dp);
  else if (nv == 3) rowsAccumGroup<3, true>(P, jn, rows, rs, d0, D, O, Dp);
  else if (nv >= 4) rowsAccumGroup<4, true>(P, jn, rows, rs, d0, D, O, Dp);
}

template <int NV, bool Tail>
inline void keysAccumGroup(const float* P, long jn, const float* const* g, long d0, long D, float* Acc, long Dp) {
  constexpr int W = V::W;
  V::R gv[kRB][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kRB; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) gv[r][v] = Tail ? loadD(g[r], d0, v, D) : V::load(g[r] + d0 + v * W);
  for (long jj = 0; jj < jn; ++jj) {
    float* dst = Acc + jj * Dp + d0;
    // Two partial sums per vector halve the FMA dependency chain.
    V::R a0[NV], a1[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      a0[v] = V::load(dst + v * W);
      a1[v] = V::zero();
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRB; r += 2) {
      const V::R p0 = V::set1(P[r * kBK + jj]), p1 = V::set1(P[(r + 1) * kBK + jj]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        a0[v] = V::fma(p0, gv[r][v], a0[v]);
        a1[v] = V::fma(p1, gv[r + 1][v], a1[v]);
      }
    }
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) V::store(dst + v * W, V::add(a0[v], a1[v]));
  }
}

// Acc[jj*Dp + :D] += sum_r P[r*BK + jj] * g[r][:D] for jj < jn (rows of g past rb carry P = 0).
inline void keysAccum(const float* P, long jn, const float* const* g, long D, float* Acc, long Dp) {
  constexpr int W = V::W;
  long d0 = 0;
  for (; d0 + kNVD * W <= D; d0 += kNVD * W) keysAccumGroup<kNVD, false>(P, jn, g, d0, D, Acc, Dp);
  const long nv = (D - d0 + W - 1) / W;
  if (nv == 1) keysAccumGroup<1, true>(P, jn, g, d0, D, Acc, Dp);
  else if (nv == 2) keysAccumGroup<2, true>(P, jn, g, d0, D, Acc, Dp);
  else if (nv == 3) keysAccumGroup<3, true>(P, jn, g, d0, D, Acc, Dp);
  else if (nv >= 4) keysAccumGroup<4, true>(P, jn, g, d0, D, Acc, Dp);
}
static_assert(kRB % 2 == 0, "keysAccum pairs query rows");
static_assert(kNVD <= 4, "tail groups are dispatched up to 4 vectors");

struct AttnIndex {
  const AttnParams& p;
  long G;   // query heads per kv head
  long Tp;  // T padded to whole key tiles (the transposed K/V row length)
  const float* qRow(long b, long h, long i) const { return p.q + (b * p.T + i) * p.qRowStride + h * p.D; }
  long tOff(long b, long hk) const { return (b * p.Hkv + hk) * p.D * Tp; }
  long outRow(long b, long h, long i) const { return ((b * p.T + i) * p.H + h) * p.D; }
  long kvOutRow(long b, long hk, long j) const { return ((b * p.T + j) * p.Hkv + hk) * p.D; }
  long lseAt(long b, long h, long i) const { return (b * p.H + h) * p.T + i; }
};

// Causal mask on a score tile of rows [rr, rr+rb) against keys [j0, j0+jn): -inf where key > query
// or past jn, and on rows past rb.
inline void maskScores(float* S, long rr, long rb, long j0, long jn) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (long r = 0; r < kRB; ++r) {
    const long lim = r < rb ? std::min(jn, rr + r - j0 + 1) : 0;
    for (long jj = std::max<long>(lim, 0); jj < kBK; ++jj) S[r * kBK + jj] = ninf;
  }
}
inline void expShift(const float* S, float shift, float* P) {
  const V::R sv = V::set1(shift);
  for (long jj = 0; jj < kBK; jj += V::W) V::store(P + jj, V::exp(V::sub(V::load(S + jj), sv)));
}

// Scratch reused across calls by each thread (the transposed K/V are shared, owned by the caller thread).
inline ScratchBuf<float>& attnKt() {
  static thread_local ScratchBuf<float> b;
  return b;
}
inline ScratchBuf<float>& attnVt() {
  static thread_local ScratchBuf<float> b;
  return b;
}
inline ScratchBuf<float>& attnRows() {
  static thread_local ScratchBuf<float> b;
  return b;
}

inline void attention(const AttnParams& p) {
  const long B = p.B, T = p.T, H = p.H, D = p.D;
  if (B * T * H == 0) return;
  if (D == 0) {  // every score is 0: lse over t+1 equal terms, empty outputs
    for (long bh = 0; bh < B * H; ++bh)
      for (long i = 0; i < T; ++i) p.lse[bh * T + i] = std::log((float)(i + 1));
    return;
  }
  const long Tp = paddedT(T);
  const AttnIndex ix{p, H / p.Hkv, Tp};
  const long nqb = (T + kBQ - 1) / kBQ;
  const long tasks = B * H * nqb;
  const long Dp = (D + V::W - 1) / V::W * V::W;
  const int nt = threadsFor((double)B * H * T * T * D);
  float* Kt = attnKt().get((size_t)B * p.Hkv * D * Tp);
  float* Vc = attnRows().get((size_t)B * p.Hkv * T * D);
  if (!Kt || !Vc) throw std::bad_alloc();
  transposeKV(p.k, p.kvRowStride, B, T, p.Hkv, D, Tp, Kt, nt);
  gatherKV(p.v, p.kvRowStride, B, T, p.Hkv, D, Vc, nt);
  parallelRegion(nt, [&](Region& reg) {
    std::vector<float> S(kRB * kBK), P(kRB * kBK), O(kBQ * Dp), m(kBQ), l(kBQ);
    reg.forDynamic(tasks, [&](long task) {
      const long qb = nqb - 1 - task % nqb, bh = task / nqb, b = bh / H, h = bh % H, hk = h / ix.G;
      const long i0 = qb * kBQ, i1 = std::min(T, i0 + kBQ);
      const float* kt = Kt + ix.tOff(b, hk);
      std::fill(O.begin(), O.end(), 0.0f);
      std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      for (long j0 = 0; j0 < i1; j0 += kBK) {
        const long jn = std::min(kBK, i1 - j0);
        for (long rr = std::max(i0, j0); rr < i1; rr += kRB) {
          const long rb = std::min<long>(kRB, i1 - rr);
          const float* qr[kRB];
          for (int r = 0; r < kRB; ++r) qr[r] = ix.qRow(b, h, rr + std::min<long>(r, rb - 1));
          tileScores(qr, kt + j0, Tp, D, p.scale, S.data());
          maskScores(S.data(), rr, rb, j0, jn);
          for (long r = 0; r < kRB; ++r) {
            float* pr = P.data() + r * kBK;
            if (r >= rb) {
              std::fill(pr, pr + kBK, 0.0f);
              continue;
            }
            const long qi = rr + r - i0;
            const float mt = rowMax(S.data() + r * kBK, kBK);
            const float mnew = std::max(m[qi], mt);
            const float corr = std::exp(m[qi] - mnew);
            expShift(S.data() + r * kBK, mnew, pr);
            l[qi] = l[qi] * corr + rowSum(pr, kBK);
            m[qi] = mnew;
            if (corr != 1.0f) {
              float* orow = O.data() + qi * Dp;
              const V::R cv = V::set1(corr);
              for (long d = 0; d < Dp; d += V::W) V::store(orow + d, V::mul(V::load(orow + d), cv));
            }
          }
          rowsAccum(P.data(), jn, Vc + ((b * p.Hkv + hk) * T + j0) * D, D, D, O.data() + (rr - i0) * Dp, Dp);
        }
      }
      for (long i = i0; i < i1; ++i) {
        const float inv = 1.0f / l[i - i0];
        float* dst = p.out + ix.outRow(b, h, i);
        const float* src = O.data() + (i - i0) * Dp;
        for (long d = 0; d < D; ++d) dst[d] = src[d] * inv;
        p.lse[ix.lseAt(b, h, i)] = m[i - i0] + std::log(l[i - i0]);
      }
    });
  });
}

inline void attentionBackward(const AttnParams& p) {
  const long B = p.B, T = p.T, H = p.H, Hkv = p.Hkv, D = p.D;
  if (B * T * H * D == 0) return;
  const long Tp = paddedT(T);
  const AttnIndex ix{p, H / Hkv, Tp};
  const long Dp = (D + V::W - 1) / V::W * V::W;
  const int nt = threadsFor((double)B * H * T * T * D * 2);
  float* Kt = attnKt().get((size_t)B * Hkv * D * Tp);
  float* Vt = attnVt().get((size_t)B * Hkv * D * Tp);
  float* Kc = attnRows().get((size_t)B * Hkv * T * D);
  if (!Kt || !Vt || !Kc) throw std::bad_alloc();
  transposeKV(p.k, p.kvRowStride, B, T, Hkv, D, Tp, Kt, nt);
  transposeKV(p.v, p.kvRowStride, B, T, Hkv, D, Tp, Vt, nt);
  gatherKV(p.k, p.kvRowStride, B, T, Hkv, D, Kc, nt);
  // delta[b,h,i] = gout_i . out_i, the softmax-backward row term.
  std::vector<float> delta((size_t)B * H * T);
  parallelFor(nt, B * T * H, [&](long bti) {
    const long b = bti / (T * H), i = (bti / H) % T, h = bti % H;
    delta[ix.lseAt(b, h, i)] = rowDot(p.gout + ix.outRow(b, h, i), p.out + ix.outRow(b, h, i), D);
  });
  const long nkb = (T + kBK - 1) / kBK, nqb = (T + kBQ - 1) / kBQ;
  const float scale = p.scale;
  // Enough (b, kv head) groups to keep every thread busy: one fused pass; else two passes that split
  // key blocks (dK, dV) and query blocks (dQ) across threads.
  const bool fused = nt == 1 || B * Hkv >= 4L * nt;
  parallelRegion(nt, [&](Region& reg) {
    std::vector<float> S(kRB * kBK), DPt(kRB * kBK), P(kRB * kBK), dS(kRB * kBK);
    std::vector<float> A1(kBK * Dp), A2(kBK * Dp);
    // P and dS for rows [rr, rr+rb) of head (b,h) against keys [j0, j0+jn).
    auto probs = [&](long b, long h, long hk, long rr, long rb, long j0, long jn, const float* const* qr,
                     const float* const* gr) {
      tileScores(qr, Kt + ix.tOff(b, hk) + j0, Tp, D, scale, S.data());
      tileScores(gr, Vt + ix.tOff(b, hk) + j0, Tp, D, 1.0f, DPt.data());
      maskScores(S.data(), rr, rb, j0, jn);
      for (long r = 0; r < kRB; ++r) {
        float* pr = P.data() + r * kBK;
        float* dr = dS.data() + r * kBK;
        if (r >= rb) {
          std::fill(pr, pr + kBK, 0.0f);
          std::fill(dr, dr + kBK, 0.0f);
          continue;
        }
        const long at = ix.lseAt(b, h, rr + r);
        expShift(S.data() + r * kBK, p.lse[at], pr);
        const V::R dl = V::set1(delta[at]), sv = V::set1(scale);
        for (long jj = 0; jj < kBK; jj += V::W)
          V::store(dr + jj, V::mul(V::mul(V::load(pr + jj), V::sub(V::load(DPt.data() + r * kBK + jj), dl)), sv));
      }
    };
    if (fused) {
      // One pass per (b, kv head): dK, dV per key block and dQ for the whole head group stay in this
      // task's buffers, so S and dP are computed once (5 tile products instead of 7).
      const long rowsPerHead = T + kRB;  // rowsAccum may touch up to kRB - 1 rows past T (adding zeros)
      std::vector<float> dQg((size_t)ix.G * rowsPerHead * Dp);
      reg.forDynamic(B * Hkv, [&](long task) {
        const long b = task / Hkv, hk = task % Hkv;
        const float* kc = Kc + (b * Hkv + hk) * T * D;
        std::fill(dQg.begin(), dQg.end(), 0.0f);
        for (long j0 = 0; j0 < T; j0 += kBK) {
          const long jn = std::min(kBK, T - j0);
          std::fill(A1.begin(), A1.end(), 0.0f);  // dK
          std::fill(A2.begin(), A2.end(), 0.0f);  // dV
          for (long g = 0; g < ix.G; ++g) {
            const long h = hk * ix.G + g;
            for (long rr = j0; rr < T; rr += kRB) {
              const long rb = std::min<long>(kRB, T - rr);
              const float *qr[kRB], *gr[kRB];
              for (int r = 0; r < kRB; ++r) {
                const long i = rr + std::min<long>(r, rb - 1);
                qr[r] = ix.qRow(b, h, i);
                gr[r] = p.gout + ix.outRow(b, h, i);
              }
              probs(b, h, hk, rr, rb, j0, jn, qr, gr);
              keysAccum(P.data(), jn, gr, D, A2.data(), Dp);
              keysAccum(dS.data(), jn, qr, D, A1.data(), Dp);
              rowsAccum(dS.data(), jn, kc + j0 * D, D, D, dQg.data() + (g * rowsPerHead + rr) * Dp, Dp);
            }
          }
          for (long jj = 0; jj < jn; ++jj) {
            std::memcpy(p.gk + ix.kvOutRow(b, hk, j0 + jj), A1.data() + jj * Dp, sizeof(float) * D);
            std::memcpy(p.gv + ix.kvOutRow(b, hk, j0 + jj), A2.data() + jj * Dp, sizeof(float) * D);
          }
        }
        for (long g = 0; g < ix.G; ++g)
          for (long i = 0; i < T; ++i)
            std::memcpy(p.gq + ix.outRow(b, hk * ix.G + g, i), dQg.data() + (g * rowsPerHead + i) * Dp, sizeof(float) * D);
      });
    } else {
      // Pass 1: key blocks own dK, dV (all query heads of their kv head, all later queries).
      reg.forDynamic(B * Hkv * nkb, [&](long task) {
        const long kb = task % nkb, bhk = task / nkb, b = bhk / Hkv, hk = bhk % Hkv;
        const long j0 = kb * kBK, jn = std::min(kBK, T - j0);
        std::fill(A1.begin(), A1.end(), 0.0f);  // dK
        std::fill(A2.begin(), A2.end(), 0.0f);  // dV
        for (long h = hk * ix.G; h < (hk + 1) * ix.G; ++h) {
          for (long rr = j0; rr < T; rr += kRB) {
            const long rb = std::min<long>(kRB, T - rr);
            const float *qr[kRB], *gr[kRB];
            for (int r = 0; r < kRB; ++r) {
              const long i = rr + std::min<long>(r, rb - 1);
              qr[r] = ix.qRow(b, h, i);
              gr[r] = p.gout + ix.outRow(b, h, i);
            }
            probs(b, h, hk, rr, rb, j0, jn, qr, gr);
            keysAccum(P.data(), jn, gr, D, A2.data(), Dp);
            keysAccum(dS.data(), jn, qr, D, A1.data(), Dp);
          }
        }
        for (long jj = 0; jj < jn; ++jj) {
          std::memcpy(p.gk + ix.kvOutRow(b, hk, j0 + jj), A1.data() + jj * Dp, sizeof(float) * D);
          std::memcpy(p.gv + ix.kvOutRow(b, hk, j0 + jj), A2.data() + jj * Dp, sizeof(float) * D);
        }
      });
      // Pass 2: query blocks own dQ.
      reg.forDynamic(B * H * nqb, [&](long task) {
        const long qb = nqb - 1 - task % nqb, bh = task / nqb, b = bh / H, h = bh % H, hk = h / ix.G;
        const long i0 = qb * kBQ, i1 = std::min(T, i0 + kBQ);
        float* dQ = A1.data();  // kBQ == kBK rows
        std::fill(A1.begin(), A1.end(), 0.0f);
        for (long j0 = 0; j0 < i1; j0 += kBK) {
          const long jn = std::min(kBK, i1 - j0);
          for (long rr = std::max(i0, j0); rr < i1; rr += kRB) {
            const long rb = std::min<long>(kRB, i1 - rr);
            const float *qr[kRB], *gr[kRB];
            for (int r = 0; r < kRB; ++r) {
              const long i = rr + std::min<long>(r, rb - 1);
              qr[r] = ix.qRow(b, h, i);
              gr[r] = p.gout + ix.outRow(b, h, i);
            }
            probs(b, h, hk, rr, rb, j0, jn, qr, gr);
            rowsAccum(dS.data(), jn, Kc + ((b * Hkv + hk) * T + j0) * D, D, D, dQ + (rr - i0) * Dp, Dp);
          }
        }
        for (long i = i0; i < i1; ++i) std::memcpy(p.gq + ix.outRow(b, h, i), dQ + (i - i0) * Dp, sizeof(float) * D);
      });
    }
  });
}

static_assert(kBQ == kBK, "pass 2 reuses the key-block accumulator for dQ");

// ---------------------------------------------------------------- table

// The FMA ceiling the benchmarks report "% of peak" against: `iters` rounds of 12 independent vector FMA chains
// (more than two FMA pipes times a 4-cycle latency keep busy); returns the FLOPs done (2 per lane per FMA).
inline double fmaChains(long iters) {
  constexpr int C = 12;
  V::R a[C];
  const V::R m = V::set1(0.999999f), c = V::set1(1e-7f);
#pragma GCC unroll 12
  for (int i = 0; i < C; ++i) a[i] = V::set1(1.0f + (float)i);
  for (long it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < C; ++i) a[i] = V::fma(a[i], m, c);
  V::R s = a[0];
  for (int i = 1; i < C; ++i) s = V::add(s, a[i]);
  alignas(64) float out[V::W];
  V::store(out, s);
  volatile float sink = out[0];
  (void)sink;
  return 2.0 * C * V::W * (double)iters;
}

template <class Gemm>
llmf::KernelTable makeTable(const char* simd) {
  llmf::KernelTable t{};
  t.simd = simd;
  t.gemm = [](const llmf::GemmParams& p) { Gemm::batched(p, llmf::threads()); };
  t.gemmPair = [](const llmf::GemmParams& p, const llmf::GemmParams& q) { Gemm::pair(p, q, llmf::threads()); };
  t.copyStrided = copyStrided;
  t.binary = binary;
  t.unary = unary;
  t.unaryBackward = unaryBackward;
  t.sumAxis = sumAxis;
  t.maxAxis = maxAxis;
  t.softmax = softmax;
  t.softmaxBackward = softmaxBackward;
  t.layerNorm = layerNorm;
  t.layerNormBackward = layerNormBackward;
  t.rmsNorm = rmsNorm;
  t.rmsNormBackward = rmsNormBackward;
  t.embedding = embedding;
  t.embeddingBackward = embeddingBackward;
  t.crossEntropy = crossEntropy;
  t.crossEntropyBackward = crossEntropyBackward;
  t.attention = attention;
  t.attentionBackward = attentionBackward;
  t.rope = rope;
  t.adamw = adamw;
  t.fmaChains = fmaChains;
  return t;
}

}  // namespace LLMF_NS
