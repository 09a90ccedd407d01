// bf16 GEMM for CPUs with avx512_bf16: op(A), op(B) are rounded to bf16 while packing (pairs along K
// interleaved in 32-bit words), the 12x32 microkernel runs vdpbf16ps, accumulation and C stay f32.
#include <immintrin.h>
#include <omp.h>
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

namespace isa_avx512bf16 {

// Round-to-nearest-even f32 -> bf16 (the high half of the returned word; NaN stays NaN).
inline uint32_t bf16Round(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u | 0x00400000u) & 0xFFFF0000u;
  return (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
}
inline __m512i bf16RoundV(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512i q = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
  return _mm512_and_si512(q, _mm512_set1_epi32((int)0xFFFF0000u));
}

// Words dst[p*S + idx] = (bf16(src[2p+1]) << 16) | bf16(src[2p]) for pairs p of one K-contiguous line
// (src[k] for k < kc; zero beyond, up to kcp).
inline void packLine(const float* src, long kc, long kcp, uint32_t* dst, long S) {
  long k = 0;
  alignas(64) uint32_t w[16];
  for (; k + 32 <= kc; k += 32) {
    const __m512i lo = bf16RoundV(_mm512_loadu_ps(src + k));       // k .. k+15
    const __m512i hi = bf16RoundV(_mm512_loadu_ps(src + k + 16));  // k+16 .. k+31
    // Pair p takes elements 2p (low half) and 2p+1 (high half): permute the 32 halves.
    const __m512i idx = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27,
                                         25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    _mm512_store_si512(reinterpret_cast<__m512i*>(w), _mm512_permutex2var_epi16(lo, idx, hi));
    for (int p = 0; p < 16; ++p) dst[(k / 2 + p) * S] = w[p];
  }
  for (; k < kcp; k += 2) {
    const uint32_t a = k < kc ? bf16Round(src[k]) >> 16 : 0u;
    const uint32_t b = k + 1 < kc ? bf16Round(src[k + 1]) & 0xFFFF0000u : 0u;
    dst[(k / 2) * S] = a | b;
  }
}

// Words dst[p*S + i] for i < n from two index-contiguous rows r0 (element k) and r1 (element k+1).
inline void packRows(const float* r0, const float* r1, long n, uint32_t* dst) {
  long i = 0;
  for (; i < n; i += 16) {
    const __mmask16 m = (n - i) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
    const __m512i a = bf16RoundV(_mm512_maskz_loadu_ps(m, r0 + i));
    const __m512i b = r1 ? bf16RoundV(_mm512_maskz_loadu_ps(m, r1 + i)) : _mm512_setzero_si512();
    _mm512_mask_storeu_epi32(dst + i, m, _mm512_or_si512(_mm512_srli_epi32(a, 16), b));
  }
}

struct Bf16Policy {
  using PT = uint32_t;  // one word = a (k, k+1) pair of bf16
  static constexpr int MR = 12, NR = 32, KU = 2;
  static constexpr long MCB = 4096, KC = 512, NC = 512;

  // Generic panel packer: element (idx, k) of the S-wide panel lives at src[idx*sIdx + k*sK].
  static void packPanel(const float* src, long sIdx, long sK, long n, long S, long kc, uint32_t* dst) {
    const long kcp = (kc + 1) / 2 * 2;
    if (sK == 1) {
      for (long i = 0; i < n; ++i) packLine(src + i * sIdx, kc, kcp, dst + i, S);
    } else {
      for (long k = 0; k < kc; k += 2) packRows(src + k * sK, k + 1 < kc ? src + (k + 1) * sK : nullptr, n, dst + (k / 2) * S);
    }
    for (long i = n; i < S; ++i)
      for (long p = 0; p < kcp / 2; ++p) dst[p * S + i] = 0u;
  }
  // The driver sizes buffers in PT units of kcp*MR (kcp even): we use kcp/2 words per row, half of it.
  static void packA(const float* A, long lda, bool trans, long i0, long rows, long k0, long kc, uint32_t* dst) {
    if (trans) packPanel(A + k0 * lda + i0, 1, lda, rows, MR, kc, dst);
    else packPanel(A + i0 * lda + k0, lda, 1, rows, MR, kc, dst);
  }
  static void packB(const float* B, long ldb, bool trans, long j0, long cols, long k0, long kc, uint32_t* dst) {
    if (trans) packPanel(B + j0 * ldb + k0, ldb, 1, cols, NR, kc, dst);
    else packPanel(B + k0 * ldb + j0, 1, ldb, cols, NR, kc, dst);
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
