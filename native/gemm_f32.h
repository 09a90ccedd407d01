// f32 GEMM policy for the driver in gemm_impl.h: packing of op(A)/op(B) into micro-panels and the
// register-tiled microkernel (MR rows x NV vectors), written once over the ISA's vector type V.
#pragma once
#include "gemm_impl.h"

namespace LLMF_NS {

template <int MR_, int NV_, long MCB_, long KC_, long NC_>
struct F32Policy {
  using PT = float;
  static constexpr int MR = MR_, NV = NV_, NR = NV_ * V::W, KU = 1;
  static constexpr long MCB = MCB_, KC = KC_, NC = NC_;
  // Packed elements per panel row for a K block of kc.
  static long kw(long kc) { return kc; }
  static constexpr bool kHasGemv = true;

  // In-register transpose of a W x W block (AVX-512: 16 x 16, AVX2: 8 x 8).
  template <class VV>
  static void transposeW(typename VV::R* blk) {
    if constexpr (VV::W == 16) {
      VV::transpose16(blk);
    } else {
      VV::transpose8(blk);
    }
  }
  // The first N lanes of x to p (AVX2: plain stores; masked stores are slow on AMD cores).
  template <class VV, int N>
  static void storeLanes(float* p, typename VV::R x) {
    if constexpr (N == VV::W) {
      VV::store(p, x);
    } else if constexpr (VV::W == 8) {
      VV::template storeFirst<N>(p, x);
    } else {
      VV::storen(p, x, N);
    }
  }

  // dst[k*MR + r] = op(A)(i0 + r, k0 + k), rows past `rows` zero.
  // (Templates on VV = V so the vector transpose branches are discarded for the scalar ISA.)
  template <class VV = V>
  static void packA(const float* A, long lda, bool trans, long i0, long rows, long k0, long kc, float* dst) {
    if (trans) {
      if constexpr (VV::W >= MR && VV::W > 1) {
        if (rows == MR) {  // MR contiguous floats per k: one (masked) load, plain stores
          for (long k = 0; k < kc; ++k) storeLanes<VV, MR>(dst + k * MR, V::loadn(A + (k0 + k) * lda + i0, MR, 0.0f));
          return;
        }
      }
      for (long k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0;
        float* d = dst + k * MR;
        long r = 0;
        for (; r < rows; ++r) d[r] = src[r];
        for (; r < MR; ++r) d[r] = 0.0f;
      }
    } else if constexpr ((VV::W == 16 || VV::W == 8) && MR <= VV::W) {
      // Rows are K-contiguous: load W k of each row, transpose W x W in registers, store MR per k.
      constexpr int W = VV::W;
      typename VV::R blk[W];
      long k = 0;
      // The rows are far apart in A (a row per lda floats), too short a stream each for the hardware prefetcher: ask
      // for the next panel's rows while this one is packed, once per 64-byte line (a prefetch past the matrix does not fault).
      const float* next = A + (i0 + MR) * lda + k0;
      for (; k + W <= kc; k += W) {
        if (k % 16 == 0 && rows == MR)
#pragma GCC unroll 16
          for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(next + r * lda + k), _MM_HINT_T0);
#pragma GCC unroll 16
        for (int r = 0; r < W; ++r) blk[r] = r < rows ? V::load(A + (i0 + r) * lda + k0 + k) : V::zero();
        transposeW<VV>(blk);
#pragma GCC unroll 16
        for (int kk = 0; kk < W; ++kk) storeLanes<VV, MR>(dst + (k + kk) * MR, blk[kk]);
      }
      if (k < kc) {
        const long kn = kc - k;
#pragma GCC unroll 16
        for (int r = 0; r < W; ++r) blk[r] = r < rows ? V::loadn(A + (i0 + r) * lda + k0 + k, kn, 0.0f) : V::zero();
        transposeW<VV>(blk);
        for (long kk = 0; kk < kn; ++kk) storeLanes<VV, MR>(dst + (k + kk) * MR, blk[kk]);
      }
    } else {
      long r = 0;
      for (; r < rows; ++r) {
        const float* src = A + (i0 + r) * lda + k0;
        for (long k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
      }
      for (; r < MR; ++r)
        for (long k = 0; k < kc; ++k) dst[k * MR + r] = 0.0f;
    }
  }

  // dst[k*NR + j] = op(B)(k0 + k, j0 + j), columns past `cols` zero.
  template <class VV = V>
  static void packB(const float* B, long ldb, bool trans, long j0, long cols, long k0, long kc, float* dst) {
    if (!trans) {
      if (cols == NR) {
        for (long k = 0; k < kc; ++k) {
          const float* src = B + (k0 + k) * ldb + j0;
          float* d = dst + k * NR;
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) V::store(d + v * V::W, V::load(src + v * V::W));
        }
      } else {
        for (long k = 0; k < kc; ++k) {
          const float* src = B + (k0 + k) * ldb + j0;
          float* d = dst + k * NR;
          long j = 0;
          for (; j < cols; ++j) d[j] = src[j];
          for (; j < NR; ++j) d[j] = 0.0f;
        }
      }
    } else if constexpr ((VV::W == 16 || VV::W == 8) && NR % VV::W == 0) {
      // Columns of op(B) are K-contiguous rows of B: W x W transposes, W columns at a time.
      constexpr int W = VV::W;
      typename VV::R blk[W];
      const float* next = B + (j0 + NR) * ldb + k0;  // the next panel's rows, prefetched as in packA
      for (long k = 0; k < kc; k += W) {
        const long kn = std::min<long>(W, kc - k);
        if (k % 16 == 0 && cols == NR)
#pragma GCC unroll 32
          for (int j = 0; j < NR; ++j) _mm_prefetch(reinterpret_cast<const char*>(next + j * ldb + k), _MM_HINT_T0);
        for (int h = 0; h < NR / W; ++h) {
#pragma GCC unroll 16
          for (int j = 0; j < W; ++j) {
            const float* src = B + (j0 + W * h + j) * ldb + k0 + k;
            blk[j] = W * h + j >= cols ? V::zero() : kn == W ? V::load(src) : V::loadn(src, kn, 0.0f);
          }
          transposeW<VV>(blk);
          for (long kk = 0; kk < kn; ++kk) V::store(dst + (k + kk) * NR + W * h, blk[kk]);
        }
      }
    } else {
      long j = 0;
      for (; j < cols; ++j) {
        const float* src = B + (j0 + j) * ldb + k0;
        for (long k = 0; k < kc; ++k) dst[k * NR + j] = src[k];
      }
      for (; j < NR; ++j)
        for (long k = 0; k < kc; ++k) dst[k * NR + j] = 0.0f;
    }
  }

  // Matrix-vector products (M == 1 or N == 1, e.g. decoding one token) skip packing: the matrix is read
  // once, in place. y[i*ys] (=|+=) alpha * sum_k X[i*xi + k*xk] * v[k*vs] for i < n.
  static bool gemv(long n, long K, const float* X, long xi, long xk, const float* v, long vs, float* y, long ys,
                   float alpha, bool accum, int nt) {
    static thread_local ScratchBuf<float> vbuf;
    if (vs != 1) {
      float* t = vbuf.get((size_t)K);
      if (!t) return false;
      for (long k = 0; k < K; ++k) t[k] = v[k * vs];
      v = t;
    }
    if ((double)n * K < llmf::gemmParallelMin() / 4) nt = 1;
    if (xk == 1) {
      auto dot = [&](long i) {
        const float* x = X + i * xi;
        typename V::R s0 = V::zero(), s1 = V::zero();
        long k = 0;
        for (; k + 2 * V::W <= K; k += 2 * V::W) {
          s0 = V::fma(V::load(x + k), V::load(v + k), s0);
          s1 = V::fma(V::load(x + k + V::W), V::load(v + k + V::W), s1);
        }
        float s = V::hsum(V::add(s0, s1));
        for (; k < K; ++k) s += x[k] * v[k];
        y[i * ys] = accum ? y[i * ys] + alpha * s : alpha * s;
      };
      parallelFor(nt, n, dot);
    } else {
      // xi == 1: accumulate rows of X into a chunk of y held in registers/L1.
      constexpr long CH = 8 * V::W;
      const long nch = (n + CH - 1) / CH;
      auto chunk = [&](long c) {
        const long i0 = c * CH, m = std::min(CH, n - i0);
        alignas(64) float acc[CH] = {};
        if (m == CH) {
          typename V::R a[8];
#pragma GCC unroll 8
          for (int u = 0; u < 8; ++u) a[u] = V::zero();
          for (long k = 0; k < K; ++k) {
            const float* x = X + k * xk + i0;
            const typename V::R vk = V::set1(v[k]);
#pragma GCC unroll 8
            for (int u = 0; u < 8; ++u) a[u] = V::fma(vk, V::load(x + u * V::W), a[u]);
          }
#pragma GCC unroll 8
          for (int u = 0; u < 8; ++u) V::store(acc + u * V::W, a[u]);
        } else {
          for (long k = 0; k < K; ++k) {
            const float* x = X + k * xk + i0;
            for (long j = 0; j < m; ++j) acc[j] += v[k] * x[j];
          }
        }
        for (long j = 0; j < m; ++j) y[(i0 + j) * ys] = accum ? y[(i0 + j) * ys] + alpha * acc[j] : alpha * acc[j];
      };
      parallelFor(nt, nch, chunk);
    }
    return true;
  }

  // M == 1: y = C row, X(n, k) = op(B)(k, n), v = op(A) row. N == 1: y = C column, X = op(A), v = op(B) column.
  static bool gemvRun(const GemmParams& p, const float* A, const float* B, float* C, int nt) {
    const bool accum = p.beta != 0;
    if (p.M == 1) {
      return gemv(p.N, p.K, B, p.transB ? p.ldb : 1, p.transB ? 1 : p.ldb, A, p.transA ? p.lda : 1, C, 1, p.alpha, accum, nt);
    } else {
      return gemv(p.M, p.K, A, p.transA ? 1 : p.lda, p.transA ? p.lda : 1, B, p.transB ? 1 : p.ldb, C, p.ldc, p.alpha, accum, nt);
    }
  }

  // C[MR x NR] (=|+=) alpha * Apanel @ Bpanel over kc steps.
  static void micro(long kc, const float* __restrict a, const float* __restrict b, float* c, long ldc, float alpha,
                    bool accum) {
    typename V::R acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    // four k steps a loop pass: the loop's own instructions no longer share the issue slots of every step's FMAs
    // (AVX2 on an Intel Xeon, one thread, 1024³: 97-99 -> 101-105 GFLOP/s, X·W 2048×256 @ 256×768 100-102 -> 107; AVX-512 level)
#pragma GCC unroll 4
    for (long k = 0; k < kc; ++k) {
      typename V::R bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * V::W);
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        const typename V::R av = V::set1(a[r]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
      }
      a += MR;
      b += NR;
    }
    const typename V::R va = V::set1(alpha);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        float* cp = c + r * ldc + v * V::W;
        V::store(cp, accum ? V::fma(va, acc[r][v], V::load(cp)) : V::mul(va, acc[r][v]));
      }
  }
};

}  // namespace LLMF_NS
