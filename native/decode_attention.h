// Batched decoding's attention (src/infer/batchDecoder.ts): kvAppend writes each new token's key and value into its
// sequence's cache (rotating q and k first for RoPE models; keys transposed, (Hkv, D, positions), values (positions,
// Hkv, D): see KvCaches in src/tensor/backend/kernels.ts), decodeAttention then computes, for many rows in one call,
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
    // keys transposed, (Hkv, D, positions): column pos of each (kv head, d) row
    const long maxLen = p.slotStride / kvw;
    float* kt = p.kCache + (long)p.slot[r] * p.slotStride + p.pos[r];
    const float* k = row + p.H * p.D;
    for (long e = 0; e < kvw; ++e) kt[e * maxLen] = k[e];
    std::memcpy(p.vCache + at, row + (p.H + p.Hkv) * p.D, sizeof(float) * kvw);
  }
}

// S[:L] = scale · q·k_j for keys stored transposed, k_j[d] at kt[d·ld + j]: per block of positions, D FMAs of a
// broadcast q[d] into one vector of scores (four blocks side by side), no horizontal sums.
inline void scoresRowT(const float* q, const float* kt, long ld, long L, long D, float scale, float* S) {
  constexpr int W = V::W;
  const V::R sv = V::set1(scale);
  long j = 0;
  for (; j + 4 * W <= L; j += 4 * W) {
    V::R a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    for (long d = 0; d < D; ++d) {
      const V::R qd = V::set1(q[d]);
      const float* r = kt + d * ld + j;
      a0 = V::fma(qd, V::load(r), a0);
      a1 = V::fma(qd, V::load(r + W), a1);
      a2 = V::fma(qd, V::load(r + 2 * W), a2);
      a3 = V::fma(qd, V::load(r + 3 * W), a3);
    }
    V::store(S + j, V::mul(a0, sv));
    V::store(S + j + W, V::mul(a1, sv));
    V::store(S + j + 2 * W, V::mul(a2, sv));
    V::store(S + j + 3 * W, V::mul(a3, sv));
  }
  for (; j + W <= L; j += W) {
    V::R a = V::zero();
    for (long d = 0; d < D; ++d) a = V::fma(V::set1(q[d]), V::load(kt + d * ld + j), a);
    V::store(S + j, V::mul(a, sv));
  }
  if (j < L) {
    V::R a = V::zero();
    for (long d = 0; d < D; ++d) a = V::fma(V::set1(q[d]), V::loadn(kt + d * ld + j, L - j, 0.0f), a);
    V::storen(S + j, V::mul(a, sv), L - j);
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
      const long maxLen = p.slotStride / kvw;
      const float* kt = p.kCache + (long)p.slot[i] * p.slotStride + hk * D * maxLen;
      const float* vb = p.vCache + (long)p.slot[i] * p.slotStride + hk * D;
      for (long h = hk * G; h < (hk + 1) * G; ++h) {
        const float* q = p.q + r * p.qRowStride + h * D;
        scoresRowT(q, kt, maxLen, L, D, p.scale, S.data());
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
