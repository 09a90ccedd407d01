// Matmuls on weight-only quantised weights (inference): y (M, N) = x (M, K) · Wᵀ (+ bias) with W stored as int8 and one
// f32 scale per row (w = q · scale), or as ggml q4_0 blocks (per 32 values an f16 d and 16 bytes of nibbles: value j
// in the low nibble of byte j, value j + 16 in the high one; w = (q - 8) · d). The TypeScript twin and definition is
// quantMatmulRef in src/nn/quantLinear.ts (its "f32" activations). Weights are converted to f32 in registers, never
// unpacked to memory. The faster path with activations quantised to q8 blocks is gemm_quant_q8.h.
#pragma once
#include <cstdint>
#include <cstring>
#include "gemm_f32.h"

namespace LLMF_NS {

namespace quant {

inline float f16ToF32(uint16_t h) {
#if defined(LLMF_ISA_AVX512) || defined(LLMF_ISA_AVX2)
  return _cvtsh_ss(h);
#else
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    float f = (float)mant * (1.0f / 16777216.0f);
    return (h & 0x8000) ? -f : f;
  }
  if (exp == 31) bits = sign | 0x7f800000u | (mant << 13);
  else bits = sign | ((exp + 112) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

// Σ_k x[k] · q[k] over one int8 row.
inline float dotI8(const float* x, const int8_t* q, long K) {
  long k = 0;
  float s = 0.f;
#if defined(LLMF_ISA_AVX512)
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  for (; k + 32 <= K; k += 32) {
    const __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(q + k))));
    const __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(q + k + 16))));
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), w0, a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), w1, a1);
  }
  s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
#elif defined(LLMF_ISA_AVX2)
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (; k + 16 <= K; k += 16) {
    const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + k))));
    const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(q + k + 8))));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), w0, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), w1, a1);
  }
  const __m256 a = _mm256_add_ps(a0, a1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  s = _mm_cvtss_f32(h);
#endif
  for (; k < K; ++k) s += x[k] * (float)q[k];
  return s;
}

// Σ_blocks d · Σ_j x[j] · (q_j - 8) over one row of K / 32 q4_0 blocks.
inline float dotQ4_0(const float* x, const uint8_t* blocks, long K) {
  const long nb = K / 32;
#if defined(LLMF_ISA_AVX512)
  __m512 acc = _mm512_setzero_ps();
  const __m512i low = _mm512_set1_epi32(0xf), eight = _mm512_set1_epi32(8);
  for (long b = 0; b < nb; ++b) {
    const uint8_t* blk = blocks + b * 18;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(blk + 2)));
    const __m512 lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(bytes, low), eight));
    const __m512 hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight));
    const float* xb = x + b * 32;
    const __m512 s = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 16), hi, _mm512_mul_ps(_mm512_loadu_ps(xb), lo));
    acc = _mm512_fmadd_ps(s, _mm512_set1_ps(f16ToF32(dh)), acc);
  }
  return _mm512_reduce_add_ps(acc);
#elif defined(LLMF_ISA_AVX2)
  __m256 acc = _mm256_setzero_ps();
  const __m256i low = _mm256_set1_epi32(0xf), eight = _mm256_set1_epi32(8);
  for (long b = 0; b < nb; ++b) {
    const uint8_t* blk = blocks + b * 18;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const float* xb = x + b * 32;
    __m256 s = _mm256_setzero_ps();
    for (int h = 0; h < 2; ++h) {
      const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(blk + 2 + 8 * h)));
      const __m256 lo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(bytes, low), eight));
      const __m256 hi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bytes, 4), eight));
      s = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 8 * h), lo, s);
      s = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 16 + 8 * h), hi, s);
    }
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(f16ToF32(dh)), acc);
  }
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
#else
  float acc = 0.f;
  for (long b = 0; b < nb; ++b) {
    const uint8_t* blk = blocks + b * 18;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    float s = 0.f;
    for (int j = 0; j < 16; ++j) s += x[b * 32 + j] * (float)((blk[2 + j] & 0xf) - 8) + x[b * 32 + 16 + j] * (float)((blk[2 + j] >> 4) - 8);
    acc += s * f16ToF32(dh);
  }
  return acc;
#endif
}

// Threads for M·N·K multiply-adds: one below the parallel threshold (a decode step's GEMV stays a plain loop).
inline int quantThreads(long M, long N, long K) {
  return (double)M * N * K < llmf::gemmParallelMin() ? 1 : std::max(1, llmf::threads());
}

}  // namespace quant

// y (M, N) = x (M, K) · (q · scale)ᵀ (+ bias), q int8 (N, K) row-major. Each output row of W is read once per call.
inline void quantMatmulI8(const float* x, long M, const int8_t* q, const float* scales, long N, long K, const float* bias, float* y) {
  parallelFor(quant::quantThreads(M, N, K), N, [&](long n) {
    for (long m = 0; m < M; ++m) y[m * N + n] = quant::dotI8(x + m * K, q + n * K, K) * scales[n] + (bias ? bias[n] : 0.f);
  });
}

// y (M, N) = x (M, K) · dequant(W)ᵀ (+ bias), W (N, K) as N rows of K / 32 q4_0 blocks.
inline void quantMatmulQ4_0(const float* x, long M, const uint8_t* blocks, long N, long K, const float* bias, float* y) {
  const long rowBytes = K / 32 * 18;
  parallelFor(quant::quantThreads(M, N, K), N, [&](long n) {
    for (long m = 0; m < M; ++m) y[m * N + n] = quant::dotQ4_0(x + m * K, blocks + n * rowBytes, K) + (bias ? bias[n] : 0.f);
  });
}

inline llmf::KernelTable withQuant(llmf::KernelTable t) {
  t.quantMatmulI8 = quantMatmulI8;
  t.quantMatmulQ4_0 = quantMatmulQ4_0;
  return t;
}

}  // namespace LLMF_NS
