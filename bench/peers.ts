// Runs the peer baselines in ../shared/peers (PyTorch, jax-js, TensorFlow.js) when installed,
// and parses their JSON line; a missing peer is reported as such, never as a failure.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export interface StepFigures {
  tokens_per_s: number;
  ms_per_step: number;
  gflops: number;
  peak_rss_mb: number;
}

export const PEERS_DIR = resolve(process.env.LLMFORGE_PEERS ?? join(import.meta.dirname, "..", "..", "shared", "peers"));
/** Where `npm install @tensorflow/tfjs... @jax-js/jax` was run (see ../shared/peers/README.md). */
export const PEER_NODE_DIR = resolve(process.env.LLMFORGE_PEER_NODE_DIR ?? "/tmp/peerbench");

function lastJson(stdout: string): StepFigures | null {
  const line = stdout.trim().split("\n").reverse().find((l) => l.trim().startsWith("{"));
  return line ? (JSON.parse(line) as StepFigures) : null;
}

export function runPeer(name: "torch" | "jaxjs" | "tfjs", args: number[], threads: number, timeoutMs = 900_000): StepFigures | string {
  const env = { ...process.env, THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  let r: ReturnType<typeof spawnSync>;
  if (name === "torch") {
    const py = "/usr/bin/python3";
    if (!existsSync(py) || spawnSync(py, ["-c", "import torch"]).status !== 0) return "not installed (apt-get install -y python3-torch)";
    r = spawnSync(py, [join(PEERS_DIR, "torch_gpt_bench.py"), ...args.map(String)], { env, encoding: "utf8", timeout: timeoutMs });
  } else {
    const script = join(PEERS_DIR, name === "jaxjs" ? "jaxjs_gpt_bench.mjs" : "tfjs_gpt_bench.mjs");
    const pkg = join(PEER_NODE_DIR, "node_modules", name === "jaxjs" ? "@jax-js/jax" : "@tensorflow/tfjs");
    if (!existsSync(pkg)) return `not installed (see ${PEERS_DIR}/README.md; set LLMFORGE_PEER_NODE_DIR)`;
    r = spawnSync(process.execPath, [script, ...args.map(String)], {
      env: { ...env, NODE_PATH: join(PEER_NODE_DIR, "node_modules") }, cwd: PEER_NODE_DIR, encoding: "utf8", timeout: timeoutMs,
    });
  }
  if (r.status !== 0) return `failed (exit ${r.status}): ${String(r.stderr ?? "").trim().split("\n").slice(-2).join(" ")}`;
  return lastJson(String(r.stdout ?? "")) ?? "no JSON line in its output";
}
