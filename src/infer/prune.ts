// Pruning (`llmforge prune`): unstructured magnitude pruning of the Transformer blocks' Linear weights to a target
// sparsity (per layer: the smallest |w| set to zero), or structured pruning of whole attention heads or MLP channels
// by importance (the norm of what they write into the residual stream). Pruned weights are zeros in an ordinary
// f32 model folder: the network is exactly the pruned one, loadable by every llmforge command and by transformers.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { assertOutsideModel } from "../model/exportGguf.js";
import { headDim } from "../model/config.js";
import type { GPT } from "../model/gpt.js";
import { loadRun } from "../model/runFolder.js";
import { saveModel } from "../model/serialize.js";
import { Linear } from "../nn/layers.js";

/** What `llmforge prune --structured` removes; "none" is unstructured magnitude pruning. */
export const PRUNE_KINDS = ["none", "heads", "mlp"] as const;
export type PruneKind = (typeof PRUNE_KINDS)[number];

/** A pruning request that cannot be done; the message says what to change. */
export class PruneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PruneError";
  }
}

export interface PruneResult {
  /** Zero weights / all weights of the pruned Linear layers after pruning. */
  sparsity: number;
  /** Heads or MLP channels removed (structured), or weights zeroed (unstructured). */
  removed: number;
}

function linearOf(model: GPT, path: string): Linear {
  const l = model.getSubmodule(path);
  if (l.constructor !== Linear) throw new PruneError(`${path} is not a plain Linear layer (merge adapters, prune before quantising)`);
  return l as Linear;
}

/** Zeroes the fraction `sparsity` of smallest-magnitude weights in each block Linear (ties broken by position). */
function pruneMagnitude(model: GPT, sparsity: number): number {
  let removed = 0;
  model.h.items.forEach((b, i) => {
    const paths = [`h.${i}.attn.c_attn`, `h.${i}.attn.c_proj`, ...(b.moe === null ? [`h.${i}.mlp.c_fc`, `h.${i}.mlp.c_proj`] : [])];
    for (const p of paths) {
      const w = linearOf(model, p).weight;
      const d = w.data as Float32Array;
      const n = w.size;
      const k = Math.floor(sparsity * n);
      if (k === 0) continue;
      const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => Math.abs(d[w.offset + x]) - Math.abs(d[w.offset + y]) || x - y);
      for (let j = 0; j < k; j++) d[w.offset + order[j]] = 0;
      removed += k;
    }
  });
  return removed;
}

/** Squared norm of columns [c0, c1) of a (rows, cols) weight. */
function columnsNorm2(l: Linear, c0: number, c1: number): number {
  const [rows, cols] = l.weight.shape;
  const d = l.weight.contiguousData();
  let s = 0;
  for (let r = 0; r < rows; r++) for (let c = c0; c < c1; c++) s += d[r * cols + c] ** 2;
  return s;
}

/** Zeroes columns [c0, c1) of a (rows, cols) weight (in place). */
function zeroColumns(l: Linear, c0: number, c1: number): void {
  const [rows, cols] = l.weight.shape;
  const d = l.weight.data as Float32Array;
  for (let r = 0; r < rows; r++) d.fill(0, l.weight.offset + r * cols + c0, l.weight.offset + r * cols + c1);
}

/** Zeroes rows [r0, r1) of a (rows, cols) weight (in place). */
function zeroRows(l: Linear, r0: number, r1: number): void {
  const cols = l.weight.shape[1];
  (l.weight.data as Float32Array).fill(0, l.weight.offset + r0 * cols, l.weight.offset + r1 * cols);
}

/**
 * Structured pruning: in each layer, the fraction `sparsity` of heads (or MLP channels) whose output-projection
 * columns have the smallest norm (for MLP channels times the norm of their input rows) stop contributing: their
 * c_proj columns are zeroed, which removes them exactly, and their input rows too (a head's query rows; a channel's
 * c_fc rows), so the zeros show what a smaller model would drop.
 */
function pruneStructured(model: GPT, kind: "heads" | "mlp", sparsity: number): number {
  const c = model.config;
  let removed = 0;
  model.h.items.forEach((b, i) => {
    if (kind === "heads") {
      const proj = linearOf(model, `h.${i}.attn.c_proj`);
      const D = headDim(c);
      const score = Array.from({ length: c.nHead }, (_, h) => columnsNorm2(proj, h * D, (h + 1) * D));
      const k = Math.floor(sparsity * c.nHead);
      const qkv = linearOf(model, `h.${i}.attn.c_attn`);
      for (const h of score.map((s, h) => [s, h]).sort((x, y) => x[0] - y[0] || x[1] - y[1]).slice(0, k).map(([, h]) => h)) {
        zeroColumns(proj, h * D, (h + 1) * D);
        zeroRows(qkv, h * D, (h + 1) * D); // its query rows (keys/values may be shared by grouped heads: left)
      }
      removed += k;
      return;
    }
    if (b.moe !== null) return;
    const fc = linearOf(model, `h.${i}.mlp.c_fc`);
    const proj = linearOf(model, `h.${i}.mlp.c_proj`);
    const M = c.mlpHidden;
    const fd = fc.weight.contiguousData();
    const C = fc.weight.shape[1];
    const rowNorm = (r: number) => {
      let s = 0;
      for (let j = 0; j < C; j++) s += fd[r * C + j] ** 2;
      return s;
    };
    // llama's c_fc is [gate; up]: a channel's input is both rows.
    const inNorm = (m: number) => (c.flavour === "llama" ? rowNorm(m) + rowNorm(M + m) : rowNorm(m));
    const score = Array.from({ length: M }, (_, m) => Math.sqrt(inNorm(m) * columnsNorm2(proj, m, m + 1)));
    const k = Math.floor(sparsity * M);
    for (const m of score.map((s, m) => [s, m]).sort((x, y) => x[0] - y[0] || x[1] - y[1]).slice(0, k).map(([, m]) => m)) {
      zeroColumns(proj, m, m + 1);
      zeroRows(fc, m, m + 1);
      if (c.flavour === "llama") zeroRows(fc, M + m, M + m + 1);
    }
    removed += k;
  });
  return removed;
}

/** Fraction of zeros over the block Linear weights. */
export function blockSparsity(model: GPT): number {
  let zeros = 0;
  let total = 0;
  for (const [name, p] of model.namedParameters()) {
    if (!/^h\.\d+\.(attn|mlp)\.c_(attn|proj|fc)\.weight$/.test(name)) continue;
    const d = p.contiguousData();
    for (let j = 0; j < d.length; j++) if (d[j] === 0) zeros++;
    total += d.length;
  }
  return total ? zeros / total : 0;
}

/** Prunes `model` in place; see {@link PruneKind}. `sparsity` in [0, 1). */
export function pruneModel(model: GPT, sparsity: number, kind: PruneKind = "none"): PruneResult {
  if (!(sparsity >= 0 && sparsity < 1)) throw new PruneError(`sparsity must be in [0, 1), got ${sparsity}`);
  if (!PRUNE_KINDS.includes(kind)) throw new PruneError(`unknown structure "${kind}": choose heads or mlp (or none for unstructured)`);
  const removed = kind === "none" ? pruneMagnitude(model, sparsity) : pruneStructured(model, kind, sparsity);
  return { sparsity: blockSparsity(model), removed };
}

export interface PruneRunOptions {
  model: string;
  sparsity: number;
  structured?: PruneKind;
  out: string;
}

/** `llmforge prune`: loads a run, prunes it and writes OUT/model (f32, zeros where pruned) and OUT/tokenizer. */
export function pruneRun(o: PruneRunOptions): PruneResult & { out: string } {
  const { model, tokenizer, paths } = loadRun(o.model);
  assertOutsideModel(o.out, paths.modelDir, o.model);
  const r = pruneModel(model, o.sparsity, o.structured ?? "none");
  saveModel(join(o.out, "model"), model);
  mkdirSync(join(o.out, "tokenizer"), { recursive: true });
  writeFileAtomicSync(join(o.out, "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
  const cfg = join(dirname(paths.tokenizerFile), "tokenizer_config.json");
  if (!paths.tokenizerFile.endsWith(".gguf") && existsSync(cfg)) copyFileSync(cfg, join(o.out, "tokenizer", "tokenizer_config.json"));
  return { ...r, out: o.out };
}
