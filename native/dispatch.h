// The table of kernels one instruction set provides (AVX-512, AVX2+FMA, scalar), chosen at load time.
// Every pointer takes raw f32 storage already validated by addon.cc (sizes, offsets, strides).
#pragma once
#include <cstdint>

namespace llmf {

struct GemmParams {
  bool transA, transB;
  long M, N, K;
  float alpha;
  const float* a; long lda; long strideA;
  const float* b; long ldb; long strideB;
  int beta;  // 0 or 1
  float* c; long ldc; long strideC;
  long batch;
};

struct AttnParams {
  long B, T, H, Hkv, D;
  float scale;
  const float* q; long qRowStride;
  const float* k; const float* v; long kvRowStride;
  float* out; float* lse;
  // backward only
  const float* gout; float* gq; float* gk; float* gv;
};

// The batch decoder's per-sequence key/value caches (one pair of buffers per layer): element (s, j, hk, d) of slot s,
// position j, kv head hk at s * slotStride + (j * Hkv + hk) * D + d for values, and at s * slotStride + (j / 16) *
// Hkv * D * 16 + (hk * D + d) * 16 + j % 16 for keys (blocks of 16 positions; slotStride a multiple of 16 * Hkv * D;
// decode_attention.h).
struct KvAppendParams {
  long n, H, Hkv, D;
  float* qkv; long qkvRowStride;  // row r: q (H, D), k (Hkv, D), v (Hkv, D) at qkv + r * qkvRowStride
  const int32_t* slot; const int32_t* pos;
  double ropeBase;  // 0: no rotation
  float* kCache; float* vCache; long slotStride;
};
struct DecodeAttnParams {
  long n, H, Hkv, D;
  float scale;
  const float* q; long qRowStride;  // query row r (H, D) at q + r * qRowStride
  const int32_t* row; const int32_t* slot; const int32_t* len;
  const float* kCache; const float* vCache; long slotStride;
  float* out;  // (rows, H, D): row r at out + r * H * D
};

struct AdamWParams {
  float* param; const float* grad; float* m; float* v; long n;
  float lr, beta1, beta2, eps, weightDecay, bc1, bc2;
};

enum BinaryOpCode { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN };
enum UnaryOpCode { U_NEG, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_ABS, U_TANH, U_SIGMOID, U_RELU, U_GELU, U_SILU, U_SQUARE, U_RECIP };

constexpr int kMaxDims = 16;

struct KernelTable {
  const char* simd;
  void (*gemm)(const GemmParams&);
  // Two independent GEMMs at once (GemmDriver::pair), each element as gemm computes it.
  void (*gemmPair)(const GemmParams&, const GemmParams&);
  void (*copyStrided)(const float* x, const long* xs, float* out, const long* shape, int nd);
  void (*binary)(int op, const float* a, const long* as, const float* b, const long* bs, float* out, const long* shape, int nd);
  void (*unary)(int op, const float* x, float* out, long n);
  void (*unaryBackward)(int op, const float* x, const float* gy, float* gx, long n);
  void (*sumAxis)(const float* x, float* out, long outer, long dim, long inner);
  void (*maxAxis)(const float* x, float* out, int32_t* arg, long outer, long dim, long inner);
  void (*softmax)(const float* x, float* out, long rows, long cols, bool log);
  void (*softmaxBackward)(const float* y, const float* gy, float* gx, long rows, long cols, bool log);
  void (*layerNorm)(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd, long rows, long cols, float eps);
  void (*layerNormBackward)(const float* x, const float* w, const float* mean, const float* rstd, const float* gy, float* gx, float* gw, float* gb, long rows, long cols);
  void (*rmsNorm)(const float* x, const float* w, float* out, float* rstd, long rows, long cols, float eps);
  void (*rmsNormBackward)(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw, long rows, long cols);
  void (*embedding)(const float* w, const int32_t* ids, float* out, long n, long dim);
  void (*embeddingBackward)(const float* gy, const int32_t* ids, float* gw, long n, long dim, long vocab);
  void (*crossEntropy)(const float* logits, const int32_t* targets, float* losses, float* lse, long rows, long vocab, int32_t ignore);
  void (*crossEntropyBackward)(const float* logits, const int32_t* targets, const float* lse, const float* gloss, float* glogits, long rows, long vocab, int32_t ignore);
  void (*attention)(const AttnParams&);
  void (*attentionBackward)(const AttnParams&);
  void (*rope)(const float* x, float* out, long B, long T, long H, long D, double base, double pos0, bool inverse);
  void (*adamw)(const AdamWParams&);
  // Inference GEMM over a weight W (N, K) packed once into NR-column panels (gemm_prepacked.h): packedSize floats,
  // packWeight(W, ldw, N, K, dst), gemmPacked(x, ldx, M, packed, N, K, bias or null, y, ldy) = x · Wᵀ (+ bias), each
  // element computed the same way for every M (batch-invariant).
  int packNR;
  long (*packedSize)(long N, long K);
  void (*packWeight)(const float* w, long ldw, long N, long K, float* dst);
  void (*gemmPacked)(const float* x, long ldx, long M, const float* packed, long N, long K, const float* bias, float* y, long ldy);
  // Weight-only quantised inference matmuls (gemm_quant.h): y (M, N) = x (M, K) · Wᵀ (+ bias), W int8 (N, K) with a scale
  // per row, or N rows of K / 32 ggml q4_0 blocks.
  void (*quantMatmulI8)(const float* x, long M, const int8_t* q, const float* scales, long N, long K, const float* bias, float* y);
  void (*quantMatmulQ4_0)(const float* x, long M, const uint8_t* blocks, long N, long K, const float* bias, float* y);
  // The same with x quantised to q8 blocks and integer dot products (gemm_quant_q8.h), on weights packed in groups of
  // 8 rows (format 0: int8, 1: q4_0).
  void (*quantMatmulQ8)(int format, const float* x, long M, const uint8_t* data, const float* scales, long N, long K, const float* bias, float* y);
  // Batched decoding (decode_attention.h): new keys/values into the caches (RoPE first when asked), then one
  // attention row per decoded token over its own cache.
  void (*kvAppend)(const KvAppendParams&);
  void (*decodeAttention)(const DecodeAttnParams&);
  // The FMA ceiling (kernels_impl.h): `iters` rounds of independent vector FMA chains; returns the FLOPs done.
  double (*fmaChains)(long iters);
};

const KernelTable* table_avx512();
// table_avx512 with the quantised matmuls built for AVX512-VNNI (dpbusd); for CPUs that report avx512vnni.
const KernelTable* table_avx512vnni();
const KernelTable* table_avx2();
const KernelTable* table_scalar();
// bf16 GEMMs: f32 in and out, operands rounded to bf16, f32 accumulation. gemm_bf16 runs vdpbf16ps
// (avx512_bf16); gemm_bf16_amx runs AMX tiles and needs amx_available() (which also asks the kernel).
void gemm_bf16(const GemmParams& p);
void gemm_bf16_amx(const GemmParams& p);
// Two independent bf16 GEMMs at once, as gemmPair.
void gemm_bf16_pair(const GemmParams& p, const GemmParams& q);
void gemm_bf16_amx_pair(const GemmParams& p, const GemmParams& q);
bool amx_available();

// Thread count used by every kernel (LLMFORGE_THREADS, default all cores).
int threads();
// Below this much work (elements, weighted by cost per element) kernels stay on one thread, and GEMMs
// below gemmParallelMin() multiply-adds: waking a team worker that has gone to sleep (team.h) costs tens
// of microseconds, more when the CPU is shared; OMP_WAIT_POLICY=active (for dedicated machines, where the
// workers spin for 10 ms) lowers both.
long parallelGrain();
double gemmParallelMin();

}  // namespace llmf
