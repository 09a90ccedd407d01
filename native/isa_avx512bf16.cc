// bf16 GEMM for CPUs with avx512_bf16: op(A), op(B) are rounded to bf16 while packing (pairs along K
// interleaved in 32-bit words), the 12x32 microkernel runs vdpbf16ps, accumulation and C stay f32.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c,bmi,bmi2")
#define LLMF_ISA_AVX512 1
#define LLMF_NS isa_avx512bf16
#include "simd.h"
#include "gemm_impl.h"
#include "bf16_pack.h"

namespace isa_avx512bf16 {

struct Bf16Policy {
  using PT = uint32_t;  // one word = a (k, k+1) pair of bf16
  static constexpr bool kHasGemv = false;  // M or N == 1 still goes through bf16 packing
  static constexpr int MR = 12, NR = 32, KU = 2;
  static constexpr long MCB = 4096, KC = 512, NC = 512;
  static long kw(long kc) { return (kc + 1) / 2; }  // one word per k pair

  static void packA(const float* A, long lda, bool trans, long i0, long rows, long k0, long kc, uint32_t* dst) {
    if (trans) packPairMajor(A + k0 * lda + i0, 1, lda, rows, MR, kc, kw(kc), dst);
    else packPairMajor(A + i0 * lda + k0, lda, 1, rows, MR, kc, kw(kc), dst);
  }
  static void packB(const float* B, long ldb, bool trans, long j0, long cols, long k0, long kc, uint32_t* dst) {
    if (trans) packPairMajor(B + j0 * ldb + k0, ldb, 1, cols, NR, kc, kw(kc), dst);
    else packPairMajor(B + k0 * ldb + j0, 1, ldb, cols, NR, kc, kw(kc), dst);
  }

  static void micro(long kp, const uint32_t* __restrict a, const uint32_t* __restrict b, float* c, long ldc,
                    float alpha, bool accum) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (long k = 0; k < kp; ++k) {
      const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
      const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) {
        const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
      }
      a += MR;
      b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 2; ++v) {
        float* cp = c + r * ldc + v * 16;
        _mm512_storeu_ps(cp, accum ? _mm512_fmadd_ps(va, acc[r][v], _mm512_loadu_ps(cp)) : _mm512_mul_ps(va, acc[r][v]));
      }
  }
};

}  // namespace isa_avx512bf16

void llmf::gemm_bf16(const GemmParams& p) {
  isa_avx512bf16::GemmDriver<isa_avx512bf16::Bf16Policy>::batched(p, llmf::threads());
}
void llmf::gemm_bf16_pair(const GemmParams& p, const GemmParams& q) {
  isa_avx512bf16::GemmDriver<isa_avx512bf16::Bf16Policy>::pair(p, q, llmf::threads());
}
