// The portable build of every kernel (one float per "vector"; the compiler may still use SSE),
// used when the CPU has neither AVX-512 nor AVX2+FMA.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>
#define LLMF_ISA_SCALAR 1
#define LLMF_NS isa_scalar
#include "simd.h"
#include "gemm_f32.h"
#include "kernels_impl.h"
#include "gemm_prepacked.h"
#include "gemm_quant.h"
#include "gemm_quant_q8.h"
#include "decode_attention.h"

const llmf::KernelTable* llmf::table_scalar() {
  using Policy = isa_scalar::F32Policy<4, 8, 4096, 256, 512>;
  static const KernelTable t = isa_scalar::withDecode(isa_scalar::withQuantQ8(isa_scalar::withQuant(isa_scalar::withPrepacked<Policy>(isa_scalar::makeTable<isa_scalar::GemmDriver<Policy>>("scalar")))));
  return &t;
}
