// Batched decoding's attention (src/infer/batchDecoder.ts): kvAppend writes each new token's key and value into its
// sequence's cache (rotating q and k first for RoPE models; keys in blocks of 16 positions, (positions / 16, Hkv, D,
// 16), values (positions, Hkv, D): see KvCaches in src/tensor/backend/kernels.ts), decodeAttention then computes, for
// many rows in one call, y (H, D) = softmax(q·kᵀ·scale)·v over that row's own cache prefix. A row's keys and values are
// read front to back, one stream each, and asked for ahead of the reads (a decode step's caches come from L3 or
// memory: the order and the prefetches are what set the speed). The TypeScript twins (src/tensor/backend/ref.ts) are
// the definition. Each row's arithmetic depends on its own data and length only, never on the other rows or the
// thread count, so a sequence decodes bit for bit the same alone or in any batch. Include after kernels_impl.h.
#pragma once
#include <cstring>
#include <vector>
#include "kernels_impl.h"

namespace LLMF_NS {

using llmf::DecodeAttnParams;
using llmf::KvAppendParams;

// Positions per key block: keys are stored (positions / KB, Hkv, D, KB), so a block's scores are KB lanes of FMAs and
// a row's keys one contiguous run (DECODE_KEY_BLOCK in src/tensor/backend/kernels.ts; the addon checks slotStride).
constexpr long KB = 16;

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
    // keys in blocks of KB positions, (Hkv, D, KB) each: lane pos % KB of each (kv head, d) row of pos's block
    float* kt = p.kCache + (long)p.slot[r] * p.slotStride + (p.pos[r] / KB) * kvw * KB + p.pos[r] % KB;
    const float* k = row + p.H * p.D;
    for (long e = 0; e < kvw; ++e) kt[e * KB] = k[e];
    std::memcpy(p.vCache + at, row + (p.H + p.Hkv) * p.D, sizeof(float) * kvw);
  }
}

// acc[g][v] = Σ_t a[g·as + t] · b[g·bs + t·bt + v·W ..] for t < T: NH rows of broadcast scalars against NV vectors each,
// NH·NV independent FMA chains, summed in t order. Both halves of decoding attention are this product: the scores
// (a = queries, b = a key block, t = d) and the weighted values (a = probabilities, b = value rows, t = position).
// Each 64-byte line of b it reads is also asked for pf floats further on (a prefetch: a decode step's caches come from
// L3 or memory, and a sequence's keys and values are too short a run each for the hardware prefetcher to get ahead
// of the reads; a prefetch past the cache's end does not fault).
template <int NH, int NV>
inline void broadcastFma(const float* a, long as, const float* b, long bs, long bt, long T, V::R (&acc)[NH][NV], long pf) {
  constexpr int lineFloats = 16;
#pragma GCC unroll 16
  for (int g = 0; g < NH; ++g)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[g][v] = V::zero();
  for (long t = 0; t < T; ++t) {
#pragma GCC unroll 16
    for (int g = 0; g < NH; ++g) {
      const V::R x = V::set1(a[g * as + t]);
      const float* r = b + g * bs + t * bt;
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        if ((v * V::W) % lineFloats == 0) __builtin_prefetch(r + v * V::W + pf, 0, 3);
        acc[g][v] = V::fma(x, V::load(r + v * V::W), acc[g][v]);
      }
    }
  }
}

// Scores of NH heads against one block of KB positions: S[g·Ss + j0 + lane] = scale · q_g·k_(j0 + lane), where head
// g's query is q0 + g·qs and its block rows k0 + g·ks + d·KB (ks = 0 when the heads share a kv head).
template <int NH>
inline void scoresBlock(const float* q0, long qs, const float* k0, long ks, long D, V::R sv, float* S, long Ss, long j0, long pf) {
  constexpr int VB = KB / V::W;
  V::R a[NH][VB];
  broadcastFma<NH, VB>(q0, qs, k0, ks, KB, D, a, pf);
#pragma GCC unroll 16
  for (int g = 0; g < NH; ++g)
#pragma GCC unroll 16
    for (int v = 0; v < VB; ++v) V::store(S + g * Ss + j0 + v * V::W, V::mul(a[g][v], sv));
}

// Heads scored side by side: as many as keep 8 accumulator vectors (two FMA pipes of four cycles' latency).
constexpr int kScoreHeads = std::max<int>(1, 8 / (int)(KB / V::W));

// scoresBlock for nh <= kScoreHeads heads.
inline void scoresBlockN(int nh, const float* q0, long qs, const float* k0, long ks, long D, V::R sv, float* S, long Ss, long j0, long pf) {
  switch (nh) {
    case 1: return scoresBlock<1>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf);
    case 2: if constexpr (kScoreHeads >= 2) return scoresBlock<2>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    case 3: if constexpr (kScoreHeads >= 3) return scoresBlock<3>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    case 4: if constexpr (kScoreHeads >= 4) return scoresBlock<4>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    case 5: if constexpr (kScoreHeads >= 5) return scoresBlock<5>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    case 6: if constexpr (kScoreHeads >= 6) return scoresBlock<6>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    case 7: if constexpr (kScoreHeads >= 7) return scoresBlock<7>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    case 8: if constexpr (kScoreHeads >= 8) return scoresBlock<8>(q0, qs, k0, ks, D, sv, S, Ss, j0, pf); break;
    default: break;
  }
}

// Value rows prefetched ahead of the weighted sum (the scores' last key block asks for the first ones).
constexpr long kValuesAhead = KB;

// out[g·D + v·W ..] = Σ_j P[g·Ps + j] · rows[j·rs + g·D + v·W ..] for NH heads of VPD vectors each (D = VPD·W when
// NH > 1): heads next to each other in one pass over the value rows, one broadcast probability per head and position
// (P already normalised), one accumulator per vector.
template <int NH, int VPD>
inline void probsTimesValuesHeads(const float* P, long Ps, const float* rows, long rs, long D, long L, float* out) {
  V::R a[NH][VPD];
  broadcastFma<NH, VPD>(P, Ps, rows, D, rs, L, a, kValuesAhead * rs);
#pragma GCC unroll 16
  for (int g = 0; g < NH; ++g)
#pragma GCC unroll 16
    for (int v = 0; v < VPD; ++v) V::store(out + g * D + v * V::W, a[g][v]);
}

// Accumulator vectors per pass of probsTimesValuesHeads (with room left for the loads and the broadcast).
constexpr int kWideVectors = 12;

// One pass: nh heads of vpd vectors, nh == 1 or nh == kWideVectors / vpd (vpd <= kWideVectors).
template <int VPD>
inline void probsTimesValuesHeadsN(long nh, const float* P, long Ps, const float* rows, long rs, long D, long L, float* out) {
  if (nh == 1) probsTimesValuesHeads<1, VPD>(P, Ps, rows, rs, D, L, out);
  else if constexpr (kWideVectors / VPD > 1) probsTimesValuesHeads<kWideVectors / VPD, VPD>(P, Ps, rows, rs, D, L, out);
}

// heads × nv vectors (nv <= kWideVectors; heads 1 or kWideVectors / nv) of probsTimesValuesHeads.
inline void probsTimesValuesPass(long heads, long nv, const float* P, long Ps, const float* rows, long rs, long D, long L, float* out) {
  switch (nv) {
    case 1: return probsTimesValuesHeadsN<1>(heads, P, Ps, rows, rs, D, L, out);
    case 2: return probsTimesValuesHeadsN<2>(heads, P, Ps, rows, rs, D, L, out);
    case 3: return probsTimesValuesHeadsN<3>(heads, P, Ps, rows, rs, D, L, out);
    case 4: return probsTimesValuesHeadsN<4>(heads, P, Ps, rows, rs, D, L, out);
    case 5: return probsTimesValuesHeadsN<5>(heads, P, Ps, rows, rs, D, L, out);
    case 6: return probsTimesValuesHeadsN<6>(heads, P, Ps, rows, rs, D, L, out);
    case 7: return probsTimesValuesHeadsN<7>(heads, P, Ps, rows, rs, D, L, out);
    case 8: return probsTimesValuesHeadsN<8>(heads, P, Ps, rows, rs, D, L, out);
    case 9: return probsTimesValuesHeadsN<9>(heads, P, Ps, rows, rs, D, L, out);
    case 10: return probsTimesValuesHeadsN<10>(heads, P, Ps, rows, rs, D, L, out);
    case 11: return probsTimesValuesHeadsN<11>(heads, P, Ps, rows, rs, D, L, out);
    default: return probsTimesValuesHeadsN<12>(heads, P, Ps, rows, rs, D, L, out);
  }
}

// The normalised probabilities P (nh heads, Ps apart) times the value rows (head g's values at g·D of each row) for
// heads side by side, D a whole number of vectors: passes of kWideVectors / (D / W) heads, single heads for what is
// left, a head wider than kWideVectors vectors in slices.
inline void probsTimesValuesWide(long nh, const float* P, long Ps, const float* rows, long rs, long D, long L, float* out) {
  const long vpd = D / V::W, per = vpd > kWideVectors ? 1 : kWideVectors / vpd;
  long g = 0;
  if (per > 1)
    for (; g + per <= nh; g += per) probsTimesValuesPass(per, vpd, P + g * Ps, Ps, rows + g * D, rs, D, L, out + g * D);
  for (; g < nh; ++g)
    for (long v0 = 0; v0 < vpd; v0 += kWideVectors)
      probsTimesValuesPass(1, std::min<long>(kWideVectors, vpd - v0), P + g * Ps, Ps, rows + g * D + v0 * V::W, rs, D, L,
                           out + g * D + v0 * V::W);
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

// P[:L] *= c.
inline void scaleRow(float* P, long L, float c) {
  constexpr int W = V::W;
  const V::R cv = V::set1(c);
  long j = 0;
  for (; j + W <= L; j += W) V::store(P + j, V::mul(V::load(P + j), cv));
  if (j < L) V::storen(P + j, V::mul(V::loadn(P + j, L - j, 0.0f), cv), L - j);
}

// For each listed row i, in chunks of heads (one task each): the chunk's scores against the slot's first len[i] keys,
// block by block; a max-subtracted softmax per head; the probability-weighted sum of the values (f32 throughout).
// Without grouped-query attention and with D a whole number of vectors, a chunk is as many heads as fill
// kWideVectors accumulators and reads each value row once for all of them; otherwise a chunk is one kv head's query
// heads, each summing its own values.
inline void decodeAttention(const DecodeAttnParams& p) {
  constexpr int W = V::W;
  const long H = p.H, Hkv = p.Hkv, D = p.D, G = H / Hkv, kvw = Hkv * D;
  if (p.n == 0 || H == 0 || D == 0) return;
  const bool wide = G == 1 && D % W == 0;
  const long hc = wide ? std::min(H, std::max<long>(1, kWideVectors * W / D)) : G;  // heads per chunk
  const long chunks = (H + hc - 1) / hc;
  long maxLen = 0;
  double work = 0;
  for (long i = 0; i < p.n; ++i) {
    maxLen = std::max<long>(maxLen, p.len[i]);
    work += (double)p.len[i] * H * D * 2;
  }
  const long Lp = (maxLen + KB - 1) / KB * KB;
  const int nt = threadsFor(work);
  const V::R sv = V::set1(p.scale);
  parallelRegion(nt, [&](Region& reg) {
    static thread_local std::vector<float> S;  // scores, then probabilities (hc heads × Lp)
    S.resize((size_t)hc * Lp);
    // a task's keys: its row's slot, from its first head's kv head on
    const auto keysOf = [&](long task) { return p.kCache + (long)p.slot[task / chunks] * p.slotStride + task % chunks * hc / G * D * KB; };
    reg.forStatic(p.n * chunks, [&](long task) {
      const long i = task / chunks, h0 = task % chunks * hc, nh = std::min(hc, H - h0), L = p.len[i], r = p.row[i];
      const long nb = (L + KB - 1) / KB;
      const float* kb = keysOf(task);
      const float* vb = p.vCache + (long)p.slot[i] * p.slotStride + h0 / G * D;
      const float* q0 = p.q + r * p.qRowStride + h0 * D;
      const long ks = G == 1 ? D * KB : 0;
      if (task + 1 < p.n * chunks) {  // the next task's first key block, read while this task computes
        const char* k1 = reinterpret_cast<const char*>(keysOf(task + 1));
        const long bytes = (long)sizeof(float) * std::min(hc / G, Hkv - (task + 1) % chunks * hc / G) * D * KB;
        for (long o = 0; o < bytes; o += 64) __builtin_prefetch(k1 + o, 0, 3);
      }
      for (long b = 0; b < nb; ++b) {
        // each key block asks for the next one, the last one for the first value rows
        const float* blk = kb + b * kvw * KB;
        const long pf = b + 1 < nb ? kvw * KB : vb - blk;
        for (long g = 0; g < nh; g += kScoreHeads)
          scoresBlockN((int)std::min<long>(kScoreHeads, nh - g), q0 + g * D, D, blk + g * ks, ks, D, sv, S.data() + g * Lp,
                       Lp, b * KB, pf);
      }
      float* out = p.out + (r * H + h0) * D;
      if (wide) {
        for (long g = 0; g < nh; ++g) {
          float* P = S.data() + g * Lp;
          scaleRow(P, L, 1.0f / expShiftRow(P, L, P));
        }
        probsTimesValuesWide(nh, S.data(), Lp, vb, kvw, D, L, out);
      } else {
        for (long g = 0; g < nh; ++g) {
          float* P = S.data() + g * Lp;
          const float sum = expShiftRow(P, L, P);
          probsTimesValuesRow(P, L, vb, kvw, D, 1.0f / sum, out + g * D);
        }
      }
    });
  });
}

inline llmf::KernelTable withDecode(llmf::KernelTable t) {
  t.kvAppend = kvAppend;
  t.decodeAttention = decodeAttention;
  return t;
}

}  // namespace LLMF_NS
