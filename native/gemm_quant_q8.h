// Quantised matmuls with activations in q8 blocks and integer dot products (the path llama.cpp takes):
// y (M, N) = x (M, K) · Wᵀ (+ bias), K a multiple of 32. Each row of x is cut into blocks of 32 values stored as int8
// with one f32 scale (d = max|x| / 127, q = x / d rounded half to even; a block holding a non-finite value gets
// d = NaN and zeros), and each (weight row, block) product Σ_j q_x · q_w is an exact int32; the float sum over blocks
// is Σ d_x · t (int8, times the row scale at the end) or Σ d_x · d_w · t (q4_0). The TypeScript twin is
// quantMatmulRef in src/nn/quantLinear.ts with "q8" activations.
//
// The weights come packed by packQuantWeight (src/nn/quantLinear.ts), the same layout on every ISA: rows in groups of
// 8 (N padded with zero rows), per group and block the 8 rows' values contiguous, so one sequential stream feeds 8
// dot products that share the activation block:
//   int8: data[(g·nb + b)·256 + r·32 + j] = q[8g + r][32b + j] (signed), scales[n] = the row scales (padded);
//   q4_0: data[(g·nb + b)·128 + r·16 + j] = byte j of the block's nibbles (value j low, j + 16 high),
//         scales[(g·nb + b)·8 + r] = the block's d as f32.
// Signed int8 weights reach VNNI's unsigned × signed dpbusd as w + 128 (xor 0x80) with -128 · Σx folded into the
// accumulator's start; q4_0's nibbles are unsigned already (start: -8 · Σx). Without VNNI, maddubs takes |w| and
// x with w's sign (int8: |w| ≤ 128, |x| ≤ 127, so its int16 pair sums never saturate) or the nibbles as they are.
#pragma once
#include "gemm_quant.h"

namespace LLMF_NS {

namespace q8 {

constexpr long QB = 32;

// The activations of M rows in q8 blocks, and Σ of each 4 consecutive values (8 per block: the int32 lanes of a
// block's partial sums), for the corrections above.
struct Act {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> sum4;
};

inline Act& scratch() {
  static thread_local Act a;
  return a;
}

inline void quantizeRows(const float* x, long M, long K, Act& a) {
  const long nb = M * (K / QB);
  a.q.resize(M * K);
  a.d.resize(nb);
  a.sum4.resize(nb * 8);
  for (long b = 0; b < nb; ++b) {
    const float* xb = x + b * QB;
    int8_t* qb = a.q.data() + b * QB;
    float amax = 0.f;
    bool finite = true;
    for (long j = 0; j < QB; ++j) {
      finite = finite && std::isfinite(xb[j]);
      amax = std::max(amax, std::fabs(xb[j]));
    }
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    for (long j = 0; j < QB; ++j) qb[j] = finite ? (int8_t)std::nearbyint(xb[j] * id) : 0;
    a.d[b] = finite ? d : std::numeric_limits<float>::quiet_NaN();
    for (int l = 0; l < 8; ++l) a.sum4[b * 8 + l] = qb[4 * l] + qb[4 * l + 1] + qb[4 * l + 2] + qb[4 * l + 3];
  }
}

#if defined(LLMF_ISA_AVX512) || defined(LLMF_ISA_AVX2)
inline float hsum8(__m256 a) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

inline float hsum4(__m128 h) {
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}
#endif

// out[r] = Σ_b d[b] · Σ_j xq · w for the 8 int8 rows of one group (wg: the group's packed blocks).
inline void groupI8(const int8_t* xq, const float* d, const int32_t* sum4, const int8_t* wg, long nb, float* out) {
#if defined(LLMF_ISA_AVX512) && defined(LLMF_VNNI)
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (long b = 0; b < nb; ++b) {
    const __m512i xb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(xq + b * QB)));
    const __m512i s4 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(sum4 + b * 8)));
    const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s4, 7));  // -128 · Σx
    const __m512 dx = _mm512_set1_ps(d[b]);
    const int8_t* wb = wg + b * 256;
    for (int p = 0; p < 4; ++p) {
      const __m512i w = _mm512_xor_si512(_mm512_loadu_si512(wb + p * 64), flip);
      acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, w, xb)), dx, acc[p]);
    }
  }
  for (int p = 0; p < 4; ++p) {
    out[2 * p] = hsum8(_mm512_castps512_ps256(acc[p]));
    out[2 * p + 1] = hsum8(_mm512_extractf32x8_ps(acc[p], 1));
  }
#elif defined(LLMF_ISA_AVX512) || defined(LLMF_ISA_AVX2)
  __m256 acc[8];
  for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (long b = 0; b < nb; ++b) {
    const __m256i xb = _mm256_loadu_si256((const __m256i*)(xq + b * QB));
    const __m256 dx = _mm256_set1_ps(d[b]);
    const int8_t* wb = wg + b * 256;
    for (int r = 0; r < 8; ++r) {
      const __m256i w = _mm256_loadu_si256((const __m256i*)(wb + r * 32));
      const __m256i t = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xb, w)), ones);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), dx, acc[r]);
    }
  }
  for (int r = 0; r < 8; ++r) out[r] = hsum8(acc[r]);
  (void)sum4;
#else
  for (int r = 0; r < 8; ++r) out[r] = 0.f;
  for (long b = 0; b < nb; ++b)
    for (int r = 0; r < 8; ++r) {
      int32_t t = 0;
      for (long j = 0; j < QB; ++j) t += (int32_t)xq[b * QB + j] * (int32_t)wg[b * 256 + r * 32 + j];
      out[r] += d[b] * (float)t;
    }
  (void)sum4;
#endif
}

// out[r] = Σ_b d[b] · d_w[b][r] · Σ_j xq · (q - 8) for the 8 q4_0 rows of one group (wg: packed nibbles, dw: scales).
inline void groupQ4(const int8_t* xq, const float* d, const int32_t* sum4, const uint8_t* wg, const float* dw, long nb, float* out) {
#if defined(LLMF_ISA_AVX512) && defined(LLMF_VNNI)
  // a pair of rows per vector: lanes 0-3 row 2p values 0-15, 4-7 row 2p+1 values 0-15, 8-11 row 2p 16-31, 12-15 row 2p+1 16-31
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  const __m512i xIdx = _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0);
  const __m512i sIdx = _mm512_set_epi32(7, 6, 5, 4, 7, 6, 5, 4, 3, 2, 1, 0, 3, 2, 1, 0);
  __m512i rowIdx[4];
  for (int p = 0; p < 4; ++p) {
    const int a = 2 * p, c = 2 * p + 1;
    rowIdx[p] = _mm512_set_epi32(c, c, c, c, a, a, a, a, c, c, c, c, a, a, a, a);
  }
  const __m256i low = _mm256_set1_epi8(0x0f);
  for (long b = 0; b < nb; ++b) {
    const __m512i xp = _mm512_permutexvar_epi64(xIdx, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(xq + b * QB))));
    const __m512i s4 = _mm512_permutexvar_epi32(sIdx, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(sum4 + b * 8))));
    const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s4, 3));  // -8 · Σx
    const __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_loadu_ps(dw + b * 8), _mm256_set1_ps(d[b])));
    const uint8_t* wb = wg + b * 128;
    for (int p = 0; p < 4; ++p) {
      const __m256i nib = _mm256_loadu_si256((const __m256i*)(wb + p * 32));
      const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(nib, low)), _mm256_and_si256(_mm256_srli_epi16(nib, 4), low), 1);
      acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, w, xp)), _mm512_permutexvar_ps(rowIdx[p], s), acc[p]);
    }
  }
  for (int p = 0; p < 4; ++p) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc[p]), _mm512_extractf32x8_ps(acc[p], 1));
    out[2 * p] = hsum4(_mm256_castps256_ps128(h));
    out[2 * p + 1] = hsum4(_mm256_extractf128_ps(h, 1));
  }
#elif defined(LLMF_ISA_AVX512) || defined(LLMF_ISA_AVX2)
  __m256 acc[8];
  for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0f);
  for (long b = 0; b < nb; ++b) {
    const __m256i xb = _mm256_loadu_si256((const __m256i*)(xq + b * QB));
    const __m256i corr = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i*)(sum4 + b * 8)), 3);  // 8 · Σx
    const __m256 dx = _mm256_set1_ps(d[b]);
    const uint8_t* wb = wg + b * 128;
    for (int r = 0; r < 8; ++r) {
      const __m128i nib = _mm_loadu_si128((const __m128i*)(wb + r * 16));
      const __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(nib, 4), nib), low);
      const __m256i t = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(v, xb), ones), corr);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(_mm256_broadcast_ss(dw + b * 8 + r), dx), acc[r]);
    }
  }
  for (int r = 0; r < 8; ++r) out[r] = hsum8(acc[r]);
#else
  for (int r = 0; r < 8; ++r) out[r] = 0.f;
  for (long b = 0; b < nb; ++b)
    for (int r = 0; r < 8; ++r) {
      const uint8_t* nib = wg + b * 128 + r * 16;
      int32_t t = 0;
      for (int j = 0; j < 16; ++j) t += (int32_t)xq[b * QB + j] * ((nib[j] & 0xf) - 8) + (int32_t)xq[b * QB + 16 + j] * ((nib[j] >> 4) - 8);
      out[r] += d[b] * dw[b * 8 + r] * (float)t;
    }
  (void)sum4;
#endif
}

}  // namespace q8

// y (M, N) = x (M, K) · Wᵀ (+ bias) with x in q8 blocks; W packed as above (format 0: int8, 1: q4_0).
inline void quantMatmulQ8(int format, const float* x, long M, const uint8_t* data, const float* scales, long N, long K, const float* bias, float* y) {
  q8::Act& a = q8::scratch();
  q8::quantizeRows(x, M, K, a);
  const long nb = K / q8::QB, groups = (N + 7) / 8;
  parallelFor(quant::quantThreads(M, N, K), groups, [&](long g) {
    for (long m = 0; m < M; ++m) {
      float o[8];
      const int8_t* xq = a.q.data() + m * K;
      const float* d = a.d.data() + m * nb;
      const int32_t* s4 = a.sum4.data() + m * nb * 8;
      if (format == 0) q8::groupI8(xq, d, s4, (const int8_t*)data + g * nb * 256, nb, o);
      else q8::groupQ4(xq, d, s4, data + g * nb * 128, scales + g * nb * 8, nb, o);
      for (long r = 0; r < 8 && g * 8 + r < N; ++r) {
        const long n = g * 8 + r;
        y[m * N + n] = (format == 0 ? o[r] * scales[n] : o[r]) + (bias ? bias[n] : 0.f);
      }
    }
  });
}

inline llmf::KernelTable withQuantQ8(llmf::KernelTable t) {
  t.quantMatmulQ8 = quantMatmulQ8;
  return t;
}

}  // namespace LLMF_NS
