// f32 -> bf16 packing shared by the bf16 GEMMs (vdpbf16ps and AMX): round-to-nearest-even, and pairs of
// consecutive k values stored as one 32-bit word (low half k, high half k+1), the layout both consume.
#pragma once
#include <immintrin.h>
#include <cstdint>
#include <cstring>

namespace LLMF_NS {

// bf16 bits of f (round to nearest even; NaN stays a quiet NaN) in the high half of the word.
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
inline __mmask16 mask16(long n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u); }

// 16 pair words from 32 consecutive values held in two vectors (elements 0-15 in lo, 16-31 in hi).
inline __m512i pairWordsRegs(__m512 lo, __m512 hi) {
  // Word p takes the bf16 halves (high 16 bits) of elements 2p and 2p+1: 16-bit lanes 4p+1 and 4p+3.
  const __m512i idx = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25,
                                       23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16(bf16RoundV(lo), idx, bf16RoundV(hi));
}

// 16 pair words from up to 32 consecutive floats src[0..n) (zero beyond n).
inline __m512i pairWords(const float* src, long n) {
  return pairWordsRegs(_mm512_maskz_loadu_ps(mask16(n), src), _mm512_maskz_loadu_ps(mask16(n - 16), src + 16));
}

// 16 pair words for indices i..i+16 (< n) from row r0 (element k) and r1 (element k+1, or none).
inline __m512i rowPairWords(const float* r0, const float* r1, long n) {
  const __mmask16 m = mask16(n);
  const __m512i a = bf16RoundV(_mm512_maskz_loadu_ps(m, r0));
  const __m512i b = r1 ? bf16RoundV(_mm512_maskz_loadu_ps(m, r1)) : _mm512_setzero_si512();
  return _mm512_or_si512(_mm512_srli_epi32(a, 16), b);
}

// Pair-major panel: word (p, i) at dst[p*S + i] for pairs p < kw (zero past kc) and indices i < S
// (zero past n). Element (i, k) of the source lives at src[i*sIdx + k*sK]; sK == 1 or sIdx == 1.
inline void packPairMajor(const float* src, long sIdx, long sK, long n, long S, long kc, long kw, uint32_t* dst) {
  alignas(64) uint32_t w[16];
  if (sK == 1) {
    for (long i = 0; i < n; ++i) {
      const float* line = src + i * sIdx;
      for (long p0 = 0; p0 < kw; p0 += 16) {
        _mm512_store_si512(reinterpret_cast<__m512i*>(w), pairWords(line + 2 * p0, kc - 2 * p0));
        const long np = kw - p0 < 16 ? kw - p0 : 16;
        for (long q = 0; q < np; ++q) dst[(p0 + q) * S + i] = w[q];
      }
    }
  } else {
    for (long p = 0; p < kw; ++p) {
      const long k = 2 * p;
      uint32_t* row = dst + p * S;
      if (k >= kc) {
        for (long i = 0; i < n; ++i) row[i] = 0u;
        continue;
      }
      for (long i = 0; i < n; i += 16)
        _mm512_mask_storeu_epi32(row + i, mask16(n - i),
                                 rowPairWords(src + k * sK + i, k + 1 < kc ? src + (k + 1) * sK + i : nullptr, n - i));
    }
  }
  for (long p = 0; p < kw; ++p)
    for (long i = n; i < S; ++i) dst[p * S + i] = 0u;
}

}  // namespace LLMF_NS
