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

  // dst[k*MR + r] = op(A)(i0 + r, k0 + k), rows past `rows` zero.
  static void packA(const float* A, long lda, bool trans, long i0, long rows, long k0, long kc, float* dst) {
    if (trans) {
      for (long k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0;
        float* d = dst + k * MR;
        long r = 0;
        for (; r < rows; ++r) d[r] = src[r];
        for (; r < MR; ++r) d[r] = 0.0f;
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

  // C[MR x NR] (=|+=) alpha * Apanel @ Bpanel over kc steps.
  static void micro(long kc, const float* __restrict a, const float* __restrict b, float* c, long ldc, float alpha,
                    bool accum) {
    typename V::R acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
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
