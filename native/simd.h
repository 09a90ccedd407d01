// One SIMD vector type per instruction set (AVX-512, AVX2+FMA, scalar) with the same static API,
// so kernel bodies are written once and compiled per ISA. Include after the TU's `#pragma GCC target`.
#pragma once
#include <immintrin.h>
#include <cmath>
#include <cstdint>

namespace LLMF_NS {

#if defined(LLMF_ISA_AVX512)
struct V {
  using R = __m512;
  static constexpr int W = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R set1(float x) { return _mm512_set1_ps(x); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R x) { _mm512_storeu_ps(p, x); }
  static __mmask16 mask(long n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u); }
  static R loadn(const float* p, long n, float fill) { return _mm512_mask_loadu_ps(set1(fill), mask(n), p); }
  // p[i * stride] for lanes i < W (stride < 2^31 / W).
  static R gather(const float* p, long stride) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)stride));
    return _mm512_i32gather_ps(idx, p, 4);
  }
  // p[i * stride] for lanes i < n, zero for the rest.
  static R gathern(const float* p, long stride, long n) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)stride));
    return _mm512_mask_i32gather_ps(zero(), mask(n), idx, p, 4);
  }
  static void storen(float* p, R x, long n) { _mm512_mask_storeu_ps(p, mask(n), x); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R fnma(R a, R b, R c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R sqrt(R a) { return _mm512_sqrt_ps(a); }
  static R abs(R a) { return _mm512_abs_ps(a); }
  // a >= b ? a : b and a <= b ? a : b, exactly as the reference writes them (NaN and signed zero included).
  static R selGe(R a, R b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ), b, a); }
  static R selLe(R a, R b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LE_OQ), b, a); }
  static R selGt0(R x, R a, R b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero(), _CMP_GT_OQ), b, a); }
  static float hsum(R a) { return _mm512_reduce_add_ps(a); }
  static float hmax(R a) { return _mm512_reduce_max_ps(a); }
  // In-register transpose of a 16x16 block: r[i] holds row i before, column i after.
  static void transpose16(R* r) {
    R t[16], u[16], v[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
      u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
      u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
      u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        v[8 * h + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + 4 + i], 0x88);
        v[8 * h + 4 + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + 4 + i], 0xDD);
      }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      r[i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0x88);
      r[8 + i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0xDD);
    }
  }
  // e^x, about 2 ulp; exp(-inf) = 0, exp(+inf) = inf, NaN propagates. Results that would be subnormal
  // (x < -87.33) are returned as 0: subnormal operands cost ~100 cycles each in the FMAs downstream
  // (masked attention scores made the kernel 3x slower before this).
  static R exp(R x0) {
    R x = _mm512_max_ps(set1(-88.0f), x0);
    x = _mm512_min_ps(set1(89.0f), x);
    R n = _mm512_roundscale_ps(_mm512_mul_ps(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm512_fnmadd_ps(n, set1(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, set1(-2.12194440e-4f), r);
    R p = set1(1.9875691500e-4f);
    p = fma(p, r, set1(1.3981999507e-3f));
    p = fma(p, r, set1(8.3334519073e-3f));
    p = fma(p, r, set1(4.1665795894e-2f));
    p = fma(p, r, set1(1.6666665459e-1f));
    p = fma(p, r, set1(5.0000001201e-1f));
    p = fma(p, mul(r, r), add(r, set1(1.0f)));
    return _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(x0, set1(-87.33654475f), _CMP_LT_OQ), _mm512_scalef_ps(p, n));
  }
};
#elif defined(LLMF_ISA_AVX2)
struct V {
  using R = __m256;
  static constexpr int W = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static __m256i mask(long n) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    const long k = n >= 8 ? 8 : n <= 0 ? 0 : n;
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(m + 8 - k));
  }
  static R loadn(const float* p, long n, float fill) {
    __m256i mk = mask(n);
    return _mm256_blendv_ps(set1(fill), _mm256_maskload_ps(p, mk), _mm256_castsi256_ps(mk));
  }
  static void storen(float* p, R x, long n) { _mm256_maskstore_ps(p, mask(n), x); }
  // The first N lanes of x to p with plain 128/64/32-bit stores (vmaskmovps stores are slow on AMD cores).
  template <int N>
  static void storeFirst(float* p, R x) {
    static_assert(N >= 1 && N <= 8, "1..8 lanes");
    if constexpr (N == 8) {
      _mm256_storeu_ps(p, x);
    } else {
      __m128 lo = _mm256_castps256_ps128(x);
      if constexpr (N >= 4) {
        _mm_storeu_ps(p, lo);
        lo = _mm256_extractf128_ps(x, 1);
        p += 4;
      }
      constexpr int n = N % 4;
      if constexpr (n >= 2) {
        _mm_storel_pi(reinterpret_cast<__m64*>(p), lo);
        if constexpr (n == 3) _mm_store_ss(p + 2, _mm_movehl_ps(lo, lo));
      } else if constexpr (n == 1) {
        _mm_store_ss(p, lo);
      }
    }
  }
  // In-place 8x8 transpose of r[0..7] (row i lane j -> row j lane i).
  static void transpose8(R* r) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
  }
  static R gather(const float* p, long stride) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32((int)stride));
    return _mm256_i32gather_ps(p, idx, 4);
  }
  static R gathern(const float* p, long stride, long n) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32((int)stride));
    return _mm256_mask_i32gather_ps(zero(), p, idx, _mm256_castsi256_ps(mask(n)), 4);
  }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R div(R a, R b) { return _mm256_div_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R fnma(R a, R b, R c) { return _mm256_fnmadd_ps(a, b, c); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R sqrt(R a) { return _mm256_sqrt_ps(a); }
  static R abs(R a) { return _mm256_andnot_ps(set1(-0.0f), a); }
  static R selGe(R a, R b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(a, b, _CMP_GE_OQ)); }
  static R selLe(R a, R b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(a, b, _CMP_LE_OQ)); }
  static R selGt0(R x, R a, R b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, zero(), _CMP_GT_OQ)); }
  static float hsum(R a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(R a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static R exp(R x0) {
    const R hi = set1(88.3762626647949f), lo = set1(-87.3365447504f);
    R x = _mm256_min_ps(hi, _mm256_max_ps(lo, x0));
    R n = _mm256_round_ps(_mm256_mul_ps(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm256_fnmadd_ps(n, set1(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, set1(-2.12194440e-4f), r);
    R p = set1(1.9875691500e-4f);
    p = fma(p, r, set1(1.3981999507e-3f));
    p = fma(p, r, set1(8.3334519073e-3f));
    p = fma(p, r, set1(4.1665795894e-2f));
    p = fma(p, r, set1(1.6666665459e-1f));
    p = fma(p, r, set1(5.0000001201e-1f));
    p = fma(p, mul(r, r), add(r, set1(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    R y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_blendv_ps(y, set1(INFINITY), _mm256_cmp_ps(x0, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(y, zero(), _mm256_cmp_ps(x0, lo, _CMP_LT_OQ));
  }
};
#else
struct V {
  using R = float;
  static constexpr int W = 1;
  static R zero() { return 0.0f; }
  static R set1(float x) { return x; }
  static R load(const float* p) { return *p; }
  static void store(float* p, R x) { *p = x; }
  static R loadn(const float* p, long n, float fill) { return n > 0 ? *p : fill; }
  static void storen(float* p, R x, long n) { if (n > 0) *p = x; }
  static R gather(const float* p, long) { return *p; }
  static R gathern(const float* p, long, long n) { return n > 0 ? *p : 0.0f; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R mul(R a, R b) { return a * b; }
  static R div(R a, R b) { return a / b; }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R fnma(R a, R b, R c) { return c - a * b; }
  static R max(R a, R b) { return a > b ? a : b; }
  static R min(R a, R b) { return a < b ? a : b; }
  static R sqrt(R a) { return std::sqrt(a); }
  static R abs(R a) { return std::fabs(a); }
  static R selGe(R a, R b) { return a >= b ? a : b; }
  static R selLe(R a, R b) { return a <= b ? a : b; }
  static R selGt0(R x, R a, R b) { return x > 0.0f ? a : b; }
  static float hsum(R a) { return a; }
  static float hmax(R a) { return a; }
  static R exp(R x) { return std::exp(x); }
};
#endif

// Vector helpers shared by the kernels.
inline V::R vsigmoid(V::R x) {
  return V::div(V::set1(1.0f), V::add(V::set1(1.0f), V::exp(V::sub(V::zero(), x))));
}

}  // namespace LLMF_NS
