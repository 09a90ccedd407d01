// The q8-activation quantised matmul (gemm_quant_q8.h) built for AVX512-VNNI: the integer dot products run on
// dpbusd, two weight rows per 512-bit vector, instead of maddubs + madd. Every other kernel is table_avx512's; chosen when the CPU reports avx512vnni.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,bmi,bmi2")
#define LLMF_ISA_AVX512 1
#define LLMF_VNNI 1
#define LLMF_NS isa_avx512vnni
#include "simd.h"
#include "gemm_quant_q8.h"

const llmf::KernelTable* llmf::table_avx512vnni() {
  static const KernelTable t = isa_avx512vnni::withQuantQ8(*table_avx512());
  return &t;
}
