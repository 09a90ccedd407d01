// Packed, cache-blocked GEMM driver shared by every ISA (BLIS-style loops on row-major C):
// a shared packed A block (MR-row micro-panels), per-thread packed B blocks (NR-column micro-panels),
// and a register-tiled microkernel supplied by the policy P; narrow products with many rows run as row
// tasks instead (runRowChunks), few rows with a long K as column tasks (runColChunks), neither with a barrier.
// Transposed operands are handled in packing. The threads are the caller's team (team.h), not OpenMP's.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include "dispatch.h"
#include "team.h"

namespace LLMF_NS {

using llmf::GemmParams;

// A growable 64-byte aligned scratch buffer; one per thread (thread_local), reused across calls.
template <class T>
struct ScratchBuf {
  T* p = nullptr;
  size_t cap = 0;
  T* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = ((n * sizeof(T)) + 63) & ~size_t(63);
      p = static_cast<T*>(std::aligned_alloc(64, bytes));
      cap = p ? n : 0;
    }
    return p;
  }
  ~ScratchBuf() { std::free(p); }
};

inline long ceilDiv(long a, long b) { return (a + b - 1) / b; }

// body(i) for i < n, split in contiguous blocks over the caller's team of nt threads (team.h), or a plain loop
// when nt == 1 (even a team job costs microseconds, more than a decode step's small kernels).
template <class I, class F>
inline void parallelFor(int nt, I n, F&& body) {
  if (nt > 1) {
    auto block = [&](int tid, int team) {
      for (I i = (I)((long)n * tid / team); i < (I)((long)n * (tid + 1) / team); ++i) body(i);
    };
    llmf::teamParallel(nt, block);
  } else {
    for (I i = 0; i < n; ++i) body(i);
  }
}

// body(i) for each i < n this thread takes from the shared counter *next (one at a time, as the threads sharing it
// finish their last one).
template <class F>
inline void takeEach(long* next, long n, F&& body) {
  for (long i; (i = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)) < n;) body(i);
}

// body(i) for i < n on the caller's team of nt threads, iterations handed out one at a time (uneven tasks).
template <class F>
inline void parallelForDynamic(int nt, long n, F&& body) {
  long next = 0;
  auto take = [&](int, int) { takeEach(&next, n, body); };
  llmf::teamParallel(nt, take);
}

// Splits nt threads into a tm x tn grid over (M panels, N panels) minimising the largest share;
// ties go to splitting N, so the packed A block stays shared and each thread packs only its own B.
inline void threadGrid(int nt, long mp, long np, int& tm, int& tn) {
  long best = -1;
  tm = 1;
  tn = nt;
  for (int a = 1; a <= nt; ++a) {
    if (nt % a) continue;
    int b = nt / a;
    long cost = ceilDiv(mp, a) * ceilDiv(np, b) * 1024 + a;  // + a: prefer fewer M splits
    if (best < 0 || cost < best) {
      best = cost;
      tm = a;
      tn = b;
    }
  }
}

template <class P>
struct GemmDriver {
  using PT = typename P::PT;
  static constexpr int MR = P::MR, NR = P::NR, KU = P::KU;

  // One GEMM (one batch element) on nt threads: C = alpha*op(A)op(B) + beta*C. Returns false (C
  // unspecified) when a packing buffer could not be allocated; callers turn that into std::bad_alloc
  // outside any parallel region.
  // `gemv`: whether a one-row or one-column product runs as matrix-vector (-1: when it has one row or column; a
  // row task of a larger product passes 0 so that its elements are computed as the whole product's are).
  static bool run(const GemmParams& p, const float* A, const float* B, float* C, int nt, int gemv = -1) {
    const long M = p.M, N = p.N, K = p.K;
    if (M <= 0 || N <= 0) return true;
    if (K <= 0) {
      if (p.beta == 0)
        for (long i = 0; i < M; ++i) std::memset(C + i * p.ldc, 0, sizeof(float) * N);
      return true;
    }
    if constexpr (P::kHasGemv) {
      if (gemv == 1 || (gemv < 0 && (M == 1 || N == 1))) return P::gemvRun(p, A, B, C, nt);
    }
    const long mpAll = ceilDiv(M, MR), npAll = ceilDiv(N, NR);
    if ((double)M * N * K < llmf::gemmParallelMin()) nt = 1;  // less work than waking threads
    if (nt > mpAll * npAll) nt = (int)(mpAll * npAll);
    if (nt < 1) nt = 1;
    if (nt > 1 && N <= P::NC && M >= kRowChunksPerThread * nt * rowChunk()) return runRowChunks(p, A, B, C, nt);
    if (nt > 1 && M <= P::MCB && K > P::KC && npAll >= 2 * nt) return runColChunks(p, A, B, C, nt);
    const long KC = P::KC, NC = P::NC;
    // Row blocks of whole micro-panels: a panel must not reach into the next block, or its rows would be computed twice
    // (added twice when beta = 1).
    const long mcb = std::min<long>(M, std::max<long>(MR, P::MCB / MR * MR));
    const long kwMax = P::kw(std::min<long>(K, KC));  // PT units per panel row/column
    // Two A blocks when threaded: block i+1 is packed while slow threads still read block i, so one
    // barrier per K block suffices (a thread reaches block i+2 only after everyone finished block i).
    const size_t aBlock = (size_t)ceilDiv(mcb, MR) * MR * kwMax;
    PT* abufs = sharedA().get(aBlock * (nt > 1 ? 2 : 1));
    if (!abufs) return false;
    bool ok = true;  // cleared (by any thread) when a B buffer cannot be allocated
    llmf::TeamBarrier bar;
    auto body = [&](int tid, int nt) {
      int tm, tn;
      threadGrid(nt, ceilDiv(mcb, MR), npAll, tm, tn);
      const int ti = tid / tn, tj = tid % tn;
      const long pj0 = npAll * tj / tn, pj1 = npAll * (tj + 1) / tn;
      const long c0 = pj0 * NR, c1 = std::min(N, pj1 * NR);
      PT* bbuf = localB().get((size_t)ceilDiv(std::min<long>(NC, std::max<long>(c1 - c0, 1)), NR) * NR * kwMax);
      if (!bbuf) {
        __atomic_store_n(&ok, false, __ATOMIC_RELAXED);
      }
      alignas(64) float tmp[MR * NR];
      long iter = 0;
      for (long ic = 0; ic < M; ic += mcb) {
        const long mc = std::min(mcb, M - ic);
        const long ma = ceilDiv(mc, MR);
        for (long pc = 0; pc < K; pc += KC) {
          const long kc = std::min(KC, K - pc);
          const long kw = P::kw(kc);
          const bool accum = !(pc == 0 && p.beta == 0);
          PT* abuf = abufs + (nt > 1 ? (iter++ & 1) * aBlock : 0);
          // Pack the A block cooperatively: thread tid packs panels [ma*tid/nt, ma*(tid+1)/nt).
          for (long ip = ma * tid / nt; ip < ma * (tid + 1) / nt; ++ip) {
            const long i0 = ic + ip * MR;
            P::packA(A, p.lda, p.transA, i0, std::min<long>(MR, M - i0), pc, kc, abuf + ip * MR * kw);
          }
          if (nt > 1) bar.wait(nt);
          const long pa0 = ma * ti / tm, pa1 = ma * (ti + 1) / tm;
          if (bbuf && pa1 > pa0) {
            for (long jc = c0; jc < c1; jc += NC) {
              const long nc = std::min(NC, c1 - jc);
              const long nb = ceilDiv(nc, NR);
              for (long jp = 0; jp < nb; ++jp) {
                const long j0 = jc + jp * NR;
                P::packB(B, p.ldb, p.transB, j0, std::min<long>(NR, N - j0), pc, kc, bbuf + jp * NR * kw);
              }
              for (long ip = pa0; ip < pa1; ++ip) {
                const long i0 = ic + ip * MR;
                const long mr = std::min<long>(MR, M - i0);
                const PT* ap = abuf + ip * MR * kw;
                for (long jp = 0; jp < nb; ++jp) {
                  const long j0 = jc + jp * NR;
                  const long nr = std::min<long>(NR, N - j0);
                  const PT* bp = bbuf + jp * NR * kw;
                  micro(kw, ap, bp, C + i0 * p.ldc + j0, p.ldc, p.alpha, accum, mr, nr, tmp);
                }
              }
            }
          }
        }
      }
    };
    if (nt == 1) {
      body(0, 1);
    } else {
      llmf::teamParallel(nt, body);  // body partitions by the team it got (fewer when a thread could not start)
    }
    return ok;
  }

  // Rows per task of runRowChunks: about 128, whole micro-panels.
  static constexpr long rowChunk() { return ceilDiv(128, MR) * MR; }
  static constexpr long kRowChunksPerThread = 4;

  // Narrow products (all of N in one block, many rows: the backward GEMMs of a small model's layers and LM head):
  // tasks of rowChunk() rows handed out one at a time, each packing its own A rows and all of B per K block, with no
  // barrier between threads. Splitting N instead would give each thread a few panels and a barrier per K block, so
  // a thread the host preempts holds the other up; here the other takes more tasks. Each C element is the same
  // chain as on one thread (same K blocks, same order).
  static bool runRowChunks(const GemmParams& p, const float* A, const float* B, float* C, int nt) {
    const long M = p.M, N = p.N, K = p.K, KC = P::KC;
    const long chunk = rowChunk(), tasks = ceilDiv(M, chunk), nb = ceilDiv(N, NR);
    const long kwMax = P::kw(std::min<long>(K, KC));
    bool ok = true;
    long next = 0;  // the next task, handed out one at a time
    auto body = [&](int, int) {
      PT* abuf = sharedA().get((size_t)chunk * kwMax);
      PT* bbuf = localB().get((size_t)nb * NR * kwMax);
      if (!abuf || !bbuf) __atomic_store_n(&ok, false, __ATOMIC_RELAXED);
      alignas(64) float tmp[MR * NR];
      takeEach(&next, tasks, [&](long t) {
        if (!abuf || !bbuf) return;
        const long ic = t * chunk, mc = std::min(chunk, M - ic), ma = ceilDiv(mc, MR);
        for (long pc = 0; pc < K; pc += KC) {
          const long kc = std::min(KC, K - pc), kw = P::kw(kc);
          const bool accum = !(pc == 0 && p.beta == 0);
          for (long jp = 0; jp < nb; ++jp) {
            const long j0 = jp * NR;
            P::packB(B, p.ldb, p.transB, j0, std::min<long>(NR, N - j0), pc, kc, bbuf + jp * NR * kw);
          }
          for (long ip = 0; ip < ma; ++ip) {
            const long i0 = ic + ip * MR;
            P::packA(A, p.lda, p.transA, i0, std::min<long>(MR, M - i0), pc, kc, abuf + ip * MR * kw);
          }
          for (long ip = 0; ip < ma; ++ip) {
            const long i0 = ic + ip * MR, mr = std::min<long>(MR, M - i0);
            const PT* ap = abuf + ip * MR * kw;
            for (long jp = 0; jp < nb; ++jp) {
              const long j0 = jp * NR, nr = std::min<long>(NR, N - j0);
              micro(kw, ap, bbuf + jp * NR * kw, C + i0 * p.ldc + j0, p.ldc, p.alpha, accum, mr, nr, tmp);
            }
          }
        }
      });
    };
    llmf::teamParallel(nt, body);
    return ok;
  }

  // Few rows and a long K (the weight gradients Xᵀ·dY of a layer): each thread runs the one-thread product over its
  // own share of the N panels, packing A itself, with no barrier; the cooperative path would meet at a barrier once
  // per K block. Each C element is the same chain as on one thread (same K blocks, same order; NC blocks only split
  // columns).
  static bool runColChunks(const GemmParams& p, const float* A, const float* B, float* C, int nt) {
    const long np = ceilDiv(p.N, NR);
    bool ok = true;
    auto body = [&](int t, int nt) {
      const long c0 = np * t / nt * NR, c1 = std::min(p.N, np * (t + 1) / nt * NR);
      GemmParams q = p;
      q.N = c1 - c0;
      const float* Bq = B + (p.transB ? c0 * p.ldb : c0);
      if (!run(q, A, Bq, C + c0, 1)) {
        __atomic_store_n(&ok, false, __ATOMIC_RELAXED);
      }
    };
    llmf::teamParallel(nt, body);
    return ok;
  }

  // Two independent products at once (a linear layer's backward: dX = dY·W and dW = dYᵀ·X, equal work). Each is cut
  // into row tasks of whole MR-row panels, kPairTasksPerThread per thread over both, shared out in proportion to the
  // products' work (so on two threads each product runs whole on its own thread); a thread runs its task as the
  // one-thread product, packing its own operands, and takes the next one when done. The threads never meet inside a
  // product, as the cooperative path does at each K block. One task per thread measured best (6 6 384 training step,
  // Zen 5, 2 threads: 1.06x the products one after the other on AVX-512, 1.04x on AVX2, 1.11x with bf16; 2 and 4
  // tasks per thread gave less, each task packing all of its B again). Each C element is the same chain as on one
  // thread (same K blocks, same order). Batched products, one thread, or too little work: one after the other.
  static constexpr long kPairTasksPerThread = 1;
  static void pair(const GemmParams& p, const GemmParams& q, int nt) {
    const double wp = (double)p.M * p.N * p.K, wq = (double)q.M * q.N * q.K;
    if (nt <= 1 || p.batch != 1 || q.batch != 1 || wp <= 0 || wq <= 0 || wp + wq < llmf::gemmParallelMin()) {
      batched(p, nt);
      batched(q, nt);
      return;
    }
    const long total = kPairTasksPerThread * nt;
    const long panelsP = ceilDiv(p.M, MR), panelsQ = ceilDiv(q.M, MR);
    const long tp = std::min(panelsP, std::max(1L, std::lround(total * wp / (wp + wq))));
    const long tq = std::min(panelsQ, std::max(1L, std::lround(total * wq / (wp + wq))));
    const long rowsP = ceilDiv(panelsP, tp) * MR, rowsQ = ceilDiv(panelsQ, tq) * MR;
    const long nP = ceilDiv(p.M, rowsP), nQ = ceilDiv(q.M, rowsQ);
    bool ok = true;
    parallelForDynamic(nt, nP + nQ, [&](long t) {
      const bool first = t < nP;
      const GemmParams& g = first ? p : q;
      const long r0 = (first ? t : t - nP) * (first ? rowsP : rowsQ);
      GemmParams s = g;
      s.M = std::min(first ? rowsP : rowsQ, g.M - r0);
      const float* A = g.a + (g.transA ? r0 : r0 * g.lda);
      if (!run(s, A, g.b, g.c + r0 * g.ldc, 1, g.M == 1 || g.N == 1 ? 1 : 0)) __atomic_store_n(&ok, false, __ATOMIC_RELAXED);
    });
    if (!ok) throw std::bad_alloc();
  }

  // One MR x NR tile of C (=|+=) alpha * panels, through tmp where it is partial.
  static void micro(long kw, const PT* ap, const PT* bp, float* cp, long ldc, float alpha, bool accum, long mr, long nr, float* tmp) {
    if (mr == MR && nr == NR) {
      P::micro(kw, ap, bp, cp, ldc, alpha, accum);
      return;
    }
    P::micro(kw, ap, bp, tmp, NR, 1.0f, false);
    for (long r = 0; r < mr; ++r)
      for (long c = 0; c < nr; ++c) {
        const float v = alpha * tmp[r * NR + c];
        cp[r * ldc + c] = accum ? cp[r * ldc + c] + v : v;
      }
  }

  static ScratchBuf<PT>& sharedA() {
    static thread_local ScratchBuf<PT> buf;
    return buf;
  }
  static ScratchBuf<PT>& localB() {
    static thread_local ScratchBuf<PT> buf;
    return buf;
  }

  // Batched entry: batches in parallel when they are many and small, else one parallel GEMM each.
  // Throws std::bad_alloc (outside the parallel regions) if packing buffers could not be allocated.
  static void batched(const GemmParams& p, int nt) {
    const double per = (double)p.M * p.N * p.K;
    bool ok = true;
    // ...and alone when all of them together are less work than waking threads (a decode step's attention: a few
    // one-row GEMMs), as for one GEMM below gemmParallelMin()
    if (per * (double)p.batch < llmf::gemmParallelMin()) nt = 1;
    if (p.batch > 1 && nt > 1 && p.strideC != 0 && (p.batch >= 2L * nt || (p.batch >= nt && per < (1 << 20)))) {
      parallelForDynamic(nt, p.batch, [&](long i) {
        if (!run(p, p.a + i * p.strideA, p.b + i * p.strideB, p.c + i * p.strideC, 1)) __atomic_store_n(&ok, false, __ATOMIC_RELAXED);
      });
    } else {
      for (long i = 0; i < p.batch && ok; ++i) ok = run(p, p.a + i * p.strideA, p.b + i * p.strideB, p.c + i * p.strideC, nt);
    }
    if (!ok) throw std::bad_alloc();
  }
};

}  // namespace LLMF_NS
