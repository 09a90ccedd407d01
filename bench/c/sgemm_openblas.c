/* Peer harness for bench/gemm.bench.ts: times OpenBLAS cblas_sgemm (row-major) on one shape.
 * Usage: sgemm_openblas M N K transA(0|1) transB(0|1) threads seconds
 * Prints one JSON line: {"gflops": best-of-3-chunks rate, "config": openblas_get_config()}.
 * Built by the bench with `cc -O2 sgemm_openblas.c -lopenblas` when Debian's libopenblas-dev is present. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void openblas_set_num_threads(int);
extern char* openblas_get_config(void);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s M N K transA transB threads seconds\n", argv[0]);
    return 2;
  }
  const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]);
  const int ta = atoi(argv[4]), tb = atoi(argv[5]), threads = atoi(argv[6]);
  const double seconds = atof(argv[7]);
  openblas_set_num_threads(threads);
  float* A = malloc(sizeof(float) * (size_t)M * K);
  float* B = malloc(sizeof(float) * (size_t)K * N);
  float* C = malloc(sizeof(float) * (size_t)M * N);
  if (!A || !B || !C) return 3;
  unsigned s = 12345u;
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
  for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
  const int lda = ta ? M : K, ldb = tb ? K : N;
  const enum CBLAS_TRANSPOSE tA = ta ? CblasTrans : CblasNoTrans, tB = tb ? CblasTrans : CblasNoTrans;
  /* Warm-up, then size chunks to ~seconds/3 and keep the best chunk (the same protocol as the TS side). */
  double t0 = now();
  cblas_sgemm(CblasRowMajor, tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
  double one = now() - t0;
  long iters = one > 0 ? (long)(seconds / 3 / one) : 1;
  if (iters < 1) iters = 1;
  double best = 0;
  for (int chunk = 0; chunk < 3; chunk++) {
    t0 = now();
    for (long i = 0; i < iters; i++) cblas_sgemm(CblasRowMajor, tA, tB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    const double rate = 2.0 * M * N * K * iters / (now() - t0) / 1e9;
    if (rate > best) best = rate;
  }
  printf("{\"gflops\": %.3f, \"config\": \"%s\", \"check\": %.6f}\n", best, openblas_get_config(), C[0]);
  free(A);
  free(B);
  free(C);
  return 0;
}
