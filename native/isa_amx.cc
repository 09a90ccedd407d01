// bf16 GEMM on AMX tiles (Sapphire Rapids and later): op(A), op(B) rounded to bf16 while packing, a
// 32x32 block of C accumulated in four 16x16 f32 tiles by TDPBF16PS. Used by gemm_bf16 when the CPU has
// amx-bf16 and the kernel grants tile state (arch_prctl); otherwise the vdpbf16ps path runs.
// AMX intrinsics need GCC >= 11 or clang >= 12; older compilers build a stub that reports no AMX.
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define LLMF_HAVE_AMX 1
#endif
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#ifdef LLMF_HAVE_AMX
#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c,bmi,bmi2")
#define LLMF_ISA_AVX512 1
#define LLMF_NS isa_amx
#include "simd.h"
#include "gemm_impl.h"
#include "bf16_pack.h"

namespace isa_amx {

struct TileConfig {
  uint8_t palette;
  uint8_t startRow;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Every tile 16 rows x 64 bytes: C tiles 0-3 (16x16 f32), A tiles 4-5 (16 rows x 16 pair words),
// B tiles 6-7 (16 pair rows x 16 columns).
inline void configureTiles() {
  static thread_local bool done = false;
  if (done) return;
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  done = true;
}

struct AmxPolicy {
  using PT = uint32_t;  // a (k, k+1) pair of bf16
  static constexpr bool kHasGemv = false;  // M or N == 1 still goes through bf16 packing
  static constexpr int MR = 32, NR = 32, KU = 2;
  static constexpr long MCB = 4096, KC = 1024, NC = 512;
  // Pair words per panel row, padded to whole 16-pair (32-k) chunks.
  static long kw(long kc) { return ((kc + 1) / 2 + 15) / 16 * 16; }

  // A panel: chunk-major, then row, then 16 words: dst[(p/16)*512 + r*16 + p%16].
  static void packA(const float* A, long lda, bool trans, long i0, long rows, long k0, long kc, uint32_t* dst) {
    const long w = kw(kc), chunks = w / 16;
    if (!trans) {
      for (long r = 0; r < MR; ++r) {
        const float* line = A + (i0 + r) * lda + k0;
        for (long c = 0; c < chunks; ++c) {
          const __m512i v = r < rows ? pairWords(line + 32 * c, kc - 32 * c) : _mm512_setzero_si512();
          _mm512_store_si512(reinterpret_cast<__m512i*>(dst + c * 512 + r * 16), v);
        }
      }
    } else {
      // Rows of op(A) are columns here: per 32-k chunk and 16-row half, load 32 k-rows of 16 values,
      // transpose both 16x16 halves in registers, and emit each row's 16 pair words contiguously.
      V::R x[32];
      for (long c = 0; c < chunks; ++c) {
        for (long r0 = 0; r0 < MR; r0 += 16) {
          const long nr = std::min<long>(16, rows - r0);
#pragma GCC unroll 32
          for (int kk = 0; kk < 32; ++kk) {
            const long k = 32 * c + kk;
            x[kk] = (k < kc && nr > 0) ? _mm512_maskz_loadu_ps(mask16(nr), A + (k0 + k) * lda + i0 + r0) : V::zero();
          }
          V::transpose16(x);
          V::transpose16(x + 16);
#pragma GCC unroll 16
          for (int r = 0; r < 16; ++r)
            _mm512_store_si512(reinterpret_cast<__m512i*>(dst + c * 512 + (r0 + r) * 16), pairWordsRegs(x[r], x[16 + r]));
        }
      }
    }
  }
  // B panel: pair-major, 32 columns per pair row: dst[p*32 + j].
  static void packB(const float* B, long ldb, bool trans, long j0, long cols, long k0, long kc, uint32_t* dst) {
    if (trans) packPairMajor(B + j0 * ldb + k0, ldb, 1, cols, NR, kc, kw(kc), dst);
    else packPairMajor(B + k0 * ldb + j0, 1, ldb, cols, NR, kc, kw(kc), dst);
  }

  static void micro(long w, const uint32_t* __restrict a, const uint32_t* __restrict b, float* c, long ldc,
                    float alpha, bool accum) {
    configureTiles();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (long ch = 0; ch < w / 16; ++ch) {
      const uint32_t* ac = a + ch * 512;
      const uint32_t* bc = b + ch * 512;
      _tile_loadd(4, ac, 64);
      _tile_loadd(5, ac + 256, 64);
      _tile_loadd(6, bc, 128);
      _tile_loadd(7, bc + 16, 128);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    alignas(64) float t[MR * NR];
    _tile_stored(0, t, 128);
    _tile_stored(1, t + 16, 128);
    _tile_stored(2, t + 16 * NR, 128);
    _tile_stored(3, t + 16 * NR + 16, 128);
    const __m512 va = _mm512_set1_ps(alpha);
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 2; ++v) {
        float* cp = c + r * ldc + v * 16;
        const __m512 x = _mm512_load_ps(t + r * NR + v * 16);
        _mm512_storeu_ps(cp, accum ? _mm512_fmadd_ps(va, x, _mm512_loadu_ps(cp)) : _mm512_mul_ps(va, x));
      }
  }
};

}  // namespace isa_amx

namespace llmf {

// CPUID amx-tile and amx-bf16, then ask the kernel for the tile data state (Linux ARCH_REQ_XCOMP_PERM).
bool amx_available() {
  static bool ok = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u;
    if (!tile || !bf16) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return ok;
}

void gemm_bf16_amx(const GemmParams& p) { isa_amx::GemmDriver<isa_amx::AmxPolicy>::batched(p, threads()); }
void gemm_bf16_amx_pair(const GemmParams& p, const GemmParams& q) { isa_amx::GemmDriver<isa_amx::AmxPolicy>::pair(p, q, threads()); }

}  // namespace llmf

#else  // !LLMF_HAVE_AMX
#include "dispatch.h"
namespace llmf {
bool amx_available() { return false; }
void gemm_bf16_amx(const GemmParams& p) { gemm_bf16(p); }
void gemm_bf16_amx_pair(const GemmParams& p, const GemmParams& q) { gemm_bf16_pair(p, q); }
}  // namespace llmf
#endif
