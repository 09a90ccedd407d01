// GEMM over a weight packed once (inference): y (M, N) = x (M, K) · Wᵀ (+ bias) with W (N, K) row-major, stored
// as the f32 policy's NR-column micro-panels over the whole K. Batch-invariant by construction: every output
// element is the same chain for any M (KC-block sums from zero in k order, added in block order, then the bias).
#pragma once
#include "gemm_f32.h"

namespace LLMF_NS {

template <class P>
struct PrepackedGemm {
  static constexpr int MR = P::MR, NV = P::NV, NR = P::NR;
  static constexpr long KC = P::KC;

  // Floats of a packed (N, K) weight: ceil(N / NR) panels of K x NR, columns past N zero.
  static long packedSize(long N, long K) { return ceilDiv(N, NR) * NR * K; }

  // dst[(jp*K + k)*NR + j] = W[(jp*NR + j)*ldw + k]: panel jp is K rows of NR floats, k-major.
  static void pack(const float* W, long ldw, long N, long K, float* dst) {
    const long np = ceilDiv(N, NR);
    const int nt = (double)N * K < (double)llmf::parallelGrain() ? 1 : std::max(1, llmf::threads());
    parallelFor(nt, np, [&](long jp) {
      const long j0 = jp * NR;
      P::packB(W, ldw, true, j0, std::min<long>(NR, N - j0), 0, K, dst + jp * K * NR);
    });
  }

  // Panel rows (k steps) the micro-kernel prefetches ahead of its reads: 12 KiB. A decode step streams every weight
  // once from L3 or memory; without the prefetch a 16-row product waits on it (N 4096, K 192 cold: 183 -> 138 us on
  // a Zen 5, 4-16 KiB ahead all within noise of each other; hot in cache it changes nothing).
  static constexpr long kAhead = 12288 / (NR * 4);

  // t[r*NR + j] (=|+=) sum over kc steps of a[k*ROWS + r] * b[k*NR + j], each product added in k order to a
  // register sum that starts at zero. The same per-lane chain for every ROWS, so a row's result never depends on
  // which rows share its call.
  template <int ROWS>
  static void micro(long kc, const float* __restrict a, const float* __restrict b, float* t, bool first) {
    typename V::R acc[ROWS][NV];
#pragma GCC unroll 32
    for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    for (long k = 0; k < kc; ++k) {
      // the panel is read once per row block, front to back, the first time from L3 or memory: ask ahead for it
      // (a prefetch past the last panel does not fault)
#pragma GCC unroll 8
      for (int l = 0; l < NR / 16; ++l) __builtin_prefetch(b + kAhead * NR + l * 16, 0, 3);
      typename V::R bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * V::W);
#pragma GCC unroll 32
      for (int r = 0; r < ROWS; ++r) {
        const typename V::R av = V::set1(a[r]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
      }
      a += ROWS;
      b += NR;
    }
#pragma GCC unroll 32
    for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        float* tp = t + r * NR + v * V::W;
        V::store(tp, first ? acc[r][v] : V::add(V::load(tp), acc[r][v]));
      }
  }

  // micro<rows> for a run-time rows in 1..MR.
  template <int R = 1>
  static void microRows(int rows, long kc, const float* a, const float* b, float* t, bool first) {
    if constexpr (R <= MR) {
      if (rows == R) return micro<R>(kc, a, b, t, first);
      microRows<R + 1>(rows, kc, a, b, t, first);
    }
  }

  static ScratchBuf<float>& xbuf() {
    static thread_local ScratchBuf<float> buf;
    return buf;
  }

  // y[m*ldy + n] = sum_k x[m*ldx + k] * W[n, k] (+ bias[n]) for m < M, n < N; W packed by `pack`. Threads split the
  // N panels (never K), and only above gemmParallelMin() multiply-adds. Throws std::bad_alloc when out of memory.
  static void run(const float* x, long ldx, long M, const float* packed, long N, long K, const float* bias, float* y,
                  long ldy) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
      for (long m = 0; m < M; ++m)
        for (long n = 0; n < N; ++n) y[m * ldy + n] = bias ? 0.0f + bias[n] : 0.0f;
      return;
    }
    // Rows in blocks of at most MR, sized evenly (16 rows on MR = 12: 8 + 8); block b starts at row M*b/nb and its
    // rows are packed k-major (xp[k*rows + r]) at xp + start*K.
    const long nb = ceilDiv(M, MR);
    float* xp = xbuf().get((size_t)(M * K));
    if (!xp) throw std::bad_alloc();
    for (long bi = 0; bi < nb; ++bi) {
      const long i0 = M * bi / nb, rows = M * (bi + 1) / nb - i0;
      float* d = xp + i0 * K;
      for (long r = 0; r < rows; ++r) {
        const float* src = x + (i0 + r) * ldx;
        for (long k = 0; k < K; ++k) d[k * rows + r] = src[k];
      }
    }
    const long np = ceilDiv(N, NR);
    int nt = (double)M * N * K < llmf::gemmParallelMin() ? 1 : std::max(1, llmf::threads());
    if (nt > np) nt = (int)np;  // threads split the N panels only: a row's arithmetic never depends on nt
    parallelFor(nt, np, [&](long jp) {
      alignas(64) float t[MR * NR];
      const long j0 = jp * NR, nr = std::min<long>(NR, N - j0);
      const float* bp = packed + jp * K * NR;
      for (long bi = 0; bi < nb; ++bi) {
        const long i0 = M * bi / nb, rows = M * (bi + 1) / nb - i0;
        const float* ap = xp + i0 * K;
        for (long pc = 0; pc < K; pc += KC) {
          const long kc = std::min(KC, K - pc);
          microRows((int)rows, kc, ap + pc * rows, bp + pc * NR, t, pc == 0);
        }
        for (long r = 0; r < rows; ++r) {
          float* yr = y + (i0 + r) * ldy + j0;
          const float* tr = t + r * NR;
          if (bias)
            for (long c = 0; c < nr; ++c) yr[c] = tr[c] + bias[j0 + c];
          else
            for (long c = 0; c < nr; ++c) yr[c] = tr[c];
        }
      }
    });
  }
};

// Adds the prepacked GEMM of policy P to a kernel table.
template <class P>
llmf::KernelTable withPrepacked(llmf::KernelTable t) {
  t.packNR = P::NR;
  t.packedSize = PrepackedGemm<P>::packedSize;
  t.packWeight = PrepackedGemm<P>::pack;
  t.gemmPacked = PrepackedGemm<P>::run;
  return t;
}

}  // namespace LLMF_NS
