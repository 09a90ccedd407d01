// The AVX-512 build of every kernel (GEMM microkernel 12x32, 16-lane vectors). Only called when the
// CPU reports avx512f/bw/dq/vl (dispatch in addon.cc), so the rest of the addon loads anywhere.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2")
#define LLMF_ISA_AVX512 1
#define LLMF_NS isa_avx512
#include "simd.h"
#include "gemm_f32.h"
#include "kernels_impl.h"
#include "gemm_prepacked.h"
#include "gemm_quant.h"
#include "gemm_quant_q8.h"
#include "decode_attention.h"

const llmf::KernelTable* llmf::table_avx512() {
  using Policy = isa_avx512::F32Policy<12, 2, 4096, 256, 512>;
  static const KernelTable t = isa_avx512::withDecode(isa_avx512::withQuantQ8(isa_avx512::withQuant(isa_avx512::withPrepacked<Policy>(isa_avx512::makeTable<isa_avx512::GemmDriver<Policy>>("avx512")))));
  return &t;
}
