// `llmforge doctor`: what llmforge runs on here (backend and why, SIMD level, threads, GEMM speed).
import { cpus } from "node:os";
import type { Command } from "commander";
import { backendStatus } from "../tensor/backend/index.js";
import { benchGemm } from "../tensor/backend/gemmBench.js";
import { textAddonError } from "../data/nativeText.js";
import { nativeInfo, nativeKernels } from "../tensor/backend/native.js";
import { VERSION } from "../version.js";
import { numberOption } from "./options.js";

export interface DoctorReport {
  version: string;
  node: string;
  backend: string;
  reason: string;
  simd: string;
  threads: number;
  cores: number;
  bf16: boolean;
  gemmGflops: number;
  gemmSize: number;
  /** which text kernels the data pipeline runs: "native", or "typescript (why)" */
  dataKernels: string;
}

/** Gathers the doctor figures (the GEMM figure takes about `seconds`). */
export function doctor(seconds = 2, size = 1024): DoctorReport {
  const status = backendStatus();
  const info = nativeKernels ? nativeInfo() : null;
  const gemm = benchGemm(status.name === "native" ? size : 256, seconds);
  return {
    version: VERSION,
    node: process.version,
    backend: status.name,
    reason: status.reason,
    simd: info ? info.simd : "n/a (reference backend: plain TypeScript)",
    threads: info ? info.threads : 1,
    cores: cpus().length,
    bf16: info ? info.bf16 : false,
    gemmGflops: gemm.gflops,
    gemmSize: status.name === "native" ? size : 256,
    dataKernels: textAddonError === null ? "native" : `typescript (${textAddonError})`,
  };
}

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("print version, backend in use (and why), SIMD level, threads and a 2-second GEMM figure")
    .option("--json", "print JSON")
    .option("--seconds <s>", "GEMM timing budget", numberOption, 2)
    .action((o) => {
      const r = doctor(o.seconds);
      if (o.json) {
        console.log(JSON.stringify(r));
        return;
      }
      console.log(`llmforge  ${r.version}`);
      console.log(`node      ${r.node}`);
      console.log(`backend   ${r.backend} (${r.reason})`);
      console.log(`simd      ${r.simd}${r.bf16 ? " + bf16" : ""}`);
      console.log(`threads   ${r.threads} of ${r.cores} cores (set LLMFORGE_THREADS to change)`);
      console.log(`gemm      ${r.gemmGflops.toFixed(1)} GFLOP/s (f32 ${r.gemmSize}³, ${o.seconds} s)`);
      console.log(`data      ${r.dataKernels} text kernels (LLMFORGE_DATA_NATIVE=0 for the TypeScript ones)`);
    });
}
