// Batched decoding's attention (src/infer/batchDecoder.ts): kvAppend writes each new token's key and value into its
// sequence's cache (rotating q and k first for RoPE models), decodeAttention then computes, for many rows in one call,
// y (H, D) = softmax(q·kᵀ·scale)·v over that row's own cache prefix. The TypeScript twins (src/tensor/backend/ref.ts)
// are the definition. Each row's arithmetic depends on its own data and length only, never on the other rows or the
// thread count, so a sequence decodes bit for bit the same alone or in any batch. Include after kernels_impl.h.
#pragma once
#include <cstring>
#include <vector>
#include "kernels_impl.h"

namespace LLMF_NS {

using llmf::DecodeAttnParams;
using llmf::KvAppendParams;

// cos/sin of RoPE for positions [0, npos) of one (base, D), float pairs per position as `rope` computes them (same
// double-precision formula, so the same bits); kept per thread across calls, since every layer of every step asks
// for the same positions.
struct RopeTable {
  double base = 0.0;
  long D = 0, npos = 0;
  std::vector<float> cs;
  const float* at(double b, long d, long pos) {
    if (b != base || d != D) {
      base = b;
      D = d;
      npos = 0;
      cs.clear();
    }
    if (pos >= npos) {
      const long half = D / 2, next = std::max(pos + 1, 2 * npos);
      cs.resize((size_t)next * half * 2);
      for (long t = npos; t < next; ++t)
        for (long i = 0; i < half; ++i) {
          const double theta = (double)t * std::pow(base, -(double)(2 * i) / (double)D);
          cs[(t * half + i) * 2] = (float)std::cos(theta);
          cs[(t * half + i) * 2 + 1] = (float)std::sin(theta);
        }
      npos = next;
    }
    return cs.data() + pos * (D / 2) * 2;
  }
};

// Per row: RoPE on q and k in place (ropeBase > 0), then k and v copied to position pos of the row's slot. A few
// hundred floats per row: one thread.
inline void kvAppend(const KvAppendParams& p) {
  static thread_local RopeTable table;
  const long kvw = p.Hkv * p.D;
  for (long r = 0; r < p.n; ++r) {
    float* row = p.qkv + r * p.qkvRowStride;
    if (p.ropeBase > 0.0) {
      const float* tab = table.at(p.ropeBase, p.D, p.pos[r]);
      ropeRows(row, row, p.H + p.Hkv, p.D, tab);  // q heads, then the k heads right after them
    }
    const long at = (long)p.slot[r] * p.slotStride + (long)p.pos[r] * kvw;
    std::memcpy(p.kCache + at, row + p.H * p.D, sizeof(float) * kvw);
    std::memcpy(p.vCache + at, row + (p.H + p.Hkv) * p.D, sizeof(float) * kvw);
  }
}

// The 8 sums of a[0..7]'s lanes, in order, times `scale`, at out[0..7].
inline void sums8(const V::R* a, float scale, float* out) {
#if defined(LLMF_ISA_AVX512) || defined(LLMF_ISA_AVX2)
  __m256 h[8];
  for (int t = 0; t < 8; ++t) {
#if defined(LLMF_ISA_AVX512)
    h[t] = _mm256_add_ps(_mm512_castps512_ps256(a[t]), _mm512_extractf32x8_ps(a[t], 1));
#else
    h[t] = a[t];
#endif
  }
  // pairwise horizontal adds: lane i of the result holds the sum of h[i] (low and high 128-bit halves added last)
  const __m256 h01 = _mm256_hadd_ps(h[0], h[1]), h23 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 h45 = _mm256_hadd_ps(h[4], h[5]), h67 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 g0 = _mm256_hadd_ps(h01, h23), g1 = _mm256_hadd_ps(h45, h67);
  const __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
  _mm256_storeu_ps(out, _mm256_mul_ps(s, _mm256_set1_ps(scale)));
#else
  for (int t = 0; t < 8; ++t) out[t] = V::hsum(a[t]) * scale;
#endif
}

// S[t] = scale · q·k_t for the 8 key rows kr[0..7] (all 8 written; callers pad with repeats of a real row).
inline void dots8(const float* q, const float* const* kr, long D, float scale, float* S) {
  constexpr int W = V::W;
  V::R a[8];
#pragma GCC unroll 8
  for (int t = 0; t < 8; ++t) a[t] = V::zero();
  long d = 0;
  for (; d + W <= D; d += W) {
    const V::R qv = V::load(q + d);
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) a[t] = V::fma(qv, V::load(kr[t] + d), a[t]);
  }
  if (d < D) {
    const V::R qv = V::loadn(q + d, D - d, 0.0f);
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) a[t] = V::fma(qv, V::loadn(kr[t] + d, D - d, 0.0f), a[t]);
  }
  sums8(a, scale, S);
}

// S[:L] (and up to 7 floats past it) = scale · q·k_j for the keys at k + j·ks, eight at a time.
inline void scoresRow(const float* q, const float* k, long ks, long L, long D, float scale, float* S) {
  const float* kr[8];
  long j = 0;
  for (; j + 8 <= L; j += 8) {
    for (int t = 0; t < 8; ++t) kr[t] = k + (j + t) * ks;
    dots8(q, kr, D, scale, S + j);
  }
  if (j < L) {
    for (long t = 0; t < 8; ++t) kr[t] = k + std::min(j + t, L - 1) * ks;
    dots8(q, kr, D, scale, S + j);
  }
}

// out[:D] = inv · Σ_j P[j] · rows[j·rs + :D] for one group of NV vectors of D at d0 (Tail: the last one is masked);
// keys split over U accumulator sets (j mod U) so that U·NV FMA chains run side by side.
template <int NV, bool Tail>
inline void probsTimesValues(const float* P, long L, const float* rows, long rs, long d0, long D, float inv, float* out) {
  constexpr int W = V::W;
  constexpr int U = NV >= 4 ? 2 : NV == 2 ? 4 : NV == 3 ? 3 : 8;
  V::R a[U][NV];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) a[u][v] = V::zero();
  auto load = [&](const float* r, int v) { return Tail ? loadD(r, d0, v, D) : V::load(r + d0 + v * W); };
  long j = 0;
  for (; j + U <= L; j += U) {
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      const V::R pu = V::set1(P[j + u]);
      const float* r = rows + (j + u) * rs;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) a[u][v] = V::fma(pu, load(r, v), a[u][v]);
    }
  }
  for (int u = 0; j < L; ++j, ++u) {
    const V::R pu = V::set1(P[j]);
    const float* r = rows + j * rs;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) a[u][v] = V::fma(pu, load(r, v), a[u][v]);
  }
  const V::R iv = V::set1(inv);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    V::R y = a[0][v];
#pragma GCC unroll 8
    for (int u = 1; u < U; ++u) y = V::add(y, a[u][v]);
    y = V::mul(y, iv);
    const long d = d0 + v * W;
    if (!Tail || d + W <= D) V::store(out + d, y);
    else if (d < D) V::storen(out + d, y, D - d);
  }
}

inline void probsTimesValuesRow(const float* P, long L, const float* rows, long rs, long D, float inv, float* out) {
  constexpr int W = V::W;
  constexpr int NV = 4;
  long d0 = 0;
  for (; d0 + NV * W <= D; d0 += NV * W) probsTimesValues<NV, false>(P, L, rows, rs, d0, D, inv, out);
  const long nv = (D - d0 + W - 1) / W;
  if ((D - d0) % W == 0) {  // whole vectors left: plain loads
    if (nv == 1) probsTimesValues<1, false>(P, L, rows, rs, d0, D, inv, out);
    else if (nv == 2) probsTimesValues<2, false>(P, L, rows, rs, d0, D, inv, out);
    else if (nv == 3) probsTimesValues<3, false>(P, L, rows, rs, d0, D, inv, out);
    return;
  }
  if (nv == 1) probsTimesValues<1, true>(P, L, rows, rs, d0, D, inv, out);
  else if (nv == 2) probsTimesValues<2, true>(P, L, rows, rs, d0, D, inv, out);
  else if (nv == 3) probsTimesValues<3, true>(P, L, rows, rs, d0, D, inv, out);
  else if (nv == 4) probsTimesValues<4, true>(P, L, rows, rs, d0, D, inv, out);
}

// P[:L] = exp(S[:L] - max S) (P may be S), returns the sum.
inline float expShiftRow(const float* S, long L, float* P) {
  constexpr int W = V::W;
  const float m = rowMax(S, L);
  const V::R mv = V::set1(m);
  long j = 0;
  for (; j + W <= L; j += W) V::store(P + j, V::exp(V::sub(V::load(S + j), mv)));
  if (j < L) V::storen(P + j, V::exp(V::sub(V::loadn(S + j, L - j, m), mv)), L - j);
  return rowSum(P, L);
}

// For each listed row i, each kv head: the G = H/Hkv query heads' scores against the slot's first len[i] keys,
// a max-subtracted softmax, and the probability-weighted sum of the values (f32 throughout).
inline void decodeAttention(const DecodeAttnParams& p) {
  const long H = p.H, Hkv = p.Hkv, D = p.D, G = H / Hkv, kvw = Hkv * D;
  if (p.n == 0 || H == 0 || D == 0) return;
  long maxLen = 0;
  double work = 0;
  for (long i = 0; i < p.n; ++i) {
    maxLen = std::max<long>(maxLen, p.len[i]);
    work += (double)p.len[i] * H * D * 2;
  }
  const int nt = threadsFor(work);
  parallelRegion(nt, [&]() {
    std::vector<float> S((size_t)maxLen + 8);  // scores (in blocks of 8 keys), then probabilities
#pragma omp for schedule(static)
    for (long task = 0; task < p.n * Hkv; ++task) {
      const long i = task / Hkv, hk = task % Hkv, L = p.len[i], r = p.row[i];
      const float* kb = p.kCache + (long)p.slot[i] * p.slotStride + hk * D;
      const float* vb = p.vCache + (long)p.slot[i] * p.slotStride + hk * D;
      for (long h = hk * G; h < (hk + 1) * G; ++h) {
        const float* q = p.q + r * p.qRowStride + h * D;
        scoresRow(q, kb, kvw, L, D, p.scale, S.data());
        const float sum = expShiftRow(S.data(), L, S.data());
        probsTimesValuesRow(S.data(), L, vb, kvw, D, 1.0f / sum, p.out + (r * H + h) * D);
      }
    }
  });
}

inline llmf::KernelTable withDecode(llmf::KernelTable t) {
  t.kvAppend = kvAppend;
  t.decodeAttention = decodeAttention;
  return t;
}

}  // namespace LLMF_NS
