// The AVX2+FMA build of every kernel (GEMM microkernel 6x16, 8-lane vectors), for x86-64-v3 CPUs.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#pragma GCC target("avx2,fma,f16c,bmi,bmi2")
#define LLMF_ISA_AVX2 1
#define LLMF_NS isa_avx2
#include "simd.h"
#include "gemm_f32.h"
#include "kernels_impl.h"
#include "gemm_prepacked.h"
#include "gemm_quant.h"
#include "gemm_quant_q8.h"
#include "decode_attention.h"

const llmf::KernelTable* llmf::table_avx2() {
  using Policy = isa_avx2::F32Policy<6, 2, 4096, 256, 512>;
  static const KernelTable t = isa_avx2::withDecode(isa_avx2::withQuantQ8(isa_avx2::withQuant(isa_avx2::withPrepacked<Policy>(isa_avx2::makeTable<isa_avx2::GemmDriver<Policy>>("avx2")))));
  return &t;
}
