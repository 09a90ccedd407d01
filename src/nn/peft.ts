// One entry point for parameter-efficient fine-tuning of a GPT: applyPeft(model, config) attaches
// LoRA, bottleneck adapters or prefix tuning (or freezes layers), freezes the rest, and returns a
// handle with the parameter counts, the adapter tensors by name and, for LoRA, merging.
import { z } from "zod";
import { Rng } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";
import { AdaptedLinear } from "./adapters.js";
import { Linear } from "./layers.js";
import { LoRALinear, LoRAPart } from "./lora.js";
import type { Module } from "./module.js";
import { type OverridableAttention, PrefixTuning } from "./prefix.js";

/** A PEFT config or target that does not fit the model; the message says what exists. */
export class PeftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeftError";
  }
}

/** What PEFT needs of a model: GPT's module layout (`h.N.attn.c_attn`, `h.N.mlp.c_proj`, `lm_head`) and config. */
export interface PeftModel extends Module {
  readonly config: {
    flavour: "gpt2" | "llama"; nLayer: number; nHead: number; nKvHead: number; nEmbd: number; mlpHidden: number;
    vocabSize: number; initStd: number; tiedEmbeddings: boolean;
  };
}

const int = (name: string, min: number) => z.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`).min(min, `${name} must be at least ${min}`);
const seed = int("seed", 0).default(0);

/** The config schema (zod): one object per method, defaults filled in. */
export const peftConfigSchema = z.discriminatedUnion("method", [
  z.object({ method: z.literal("none") }).strict(),
  z.object({
    method: z.literal("lora"),
    r: int("r", 1).default(8),
    alpha: z.number().positive("alpha must be > 0").default(16),
    dropout: z.number().min(0, "dropout must be in [0, 1)").lt(1, "dropout must be in [0, 1)").default(0),
    /** Target names (see {@link loraTargetNames}), as a list or one comma-separated string; default c_attn (gpt2), q,v (llama). */
    targets: z.union([z.string(), z.array(z.string())]).optional(),
    /** rsLoRA: scale alpha / sqrt(r) instead of alpha / r. */
    rslora: z.boolean().default(false),
    seed,
  }).strict(),
  z.object({
    method: z.literal("adapter"),
    /** houlsby: after attention and after the MLP; pfeiffer: after the MLP only. */
    placement: z.enum(["houlsby", "pfeiffer"]).default("houlsby"),
    /** Bottleneck width = C / reductionFactor. */
    reductionFactor: int("reductionFactor", 1).default(16),
    activation: z.enum(["relu", "gelu", "silu"]).default("relu"),
    seed,
  }).strict(),
  z.object({
    method: z.literal("prefix"),
    numVirtualTokens: int("numVirtualTokens", 1).default(16),
    /** Hidden width of the reparameterisation MLP (train through embedding -> MLP); 0 = plain prefixes. */
    projectionHidden: int("projectionHidden", 0).default(0),
    seed,
  }).strict(),
  z.object({
    method: z.literal("freeze"),
    /** Train only the last N blocks (plus ln_f and an untied lm_head); `--freeze-layers N` on the command line. */
    trainLastLayers: int("trainLastLayers", 0).optional(),
    /** Glob patterns over module paths to freeze (`*` = one path part, `**` = any): "h.*.attn", "wte". */
    freeze: z.array(z.string()).default([]),
  }).strict(),
], { error: 'method must be one of "none", "lora", "adapter", "prefix", "freeze"' });

export type PeftConfigInput = z.input<typeof peftConfigSchema>;
export type PeftConfig = z.output<typeof peftConfigSchema>;

/** Validates an untrusted PEFT config (JSON, CLI flags); `source` names where it came from. */
export function parsePeftConfig(value: unknown, source = "PEFT config"): PeftConfig {
  const r = peftConfigSchema.safeParse(value);
  if (!r.success) {
    throw new PeftError(`${source} is invalid: ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  }
  if (r.data.method === "freeze" && r.data.trainLastLayers === undefined && r.data.freeze.length === 0) {
    throw new PeftError(`${source}: method "freeze" needs trainLastLayers or freeze patterns`);
  }
  return r.data;
}

/** One LoRA part to attach: rows [start, end) of the Linear at `path`. */
export interface LoraSite {
  path: string;
  label: string;
  start: number;
  end: number;
  /** The target name it came from. */
  target: string;
  r: number;
  alpha: number;
}

type Piece = [path: string, label: string, start: number, end: number];

/** Target names per flavour (see {@link loraTargetNames}) and the pieces they stand for in each block. */
function targetTable(c: PeftModel["config"]): Map<string, Piece[]> {
  const D = c.nEmbd / c.nHead;
  const [qn, kvn, M, C] = [c.nHead * D, c.nKvHead * D, c.mlpHidden, c.nEmbd];
  const q: Piece = ["attn.c_attn", "q", 0, qn];
  const k: Piece = ["attn.c_attn", "k", qn, qn + kvn];
  const v: Piece = ["attn.c_attn", "v", qn + kvn, qn + 2 * kvn];
  const o: Piece = ["attn.c_proj", "all", 0, C];
  const down: Piece = ["mlp.c_proj", "all", 0, C];
  const attnAll: Piece = ["attn.c_attn", "all", 0, qn + 2 * kvn];
  if (c.flavour === "gpt2") {
    const fc: Piece = ["mlp.c_fc", "all", 0, M];
    const t: Record<string, Piece[]> = { c_attn: [attnAll], q: [q], k: [k], v: [v], c_proj: [o], "attn.c_proj": [o], c_fc: [fc], "mlp.c_proj": [down] };
    return new Map(Object.entries({ ...t, all: [attnAll, o, fc, down] }));
  }
  const gate: Piece = ["mlp.c_fc", "gate", 0, M];
  const up: Piece = ["mlp.c_fc", "up", M, 2 * M];
  const base: Record<string, Piece[]> = { q: [q], k: [k], v: [v], o: [o], gate: [gate], up: [up], down: [down] };
  const t = { ...base, ...Object.fromEntries(Object.entries(base).map(([n, p]) => [`${n}_proj`, p])) };
  return new Map(Object.entries({ ...t, c_attn: [attnAll], c_fc: [["mlp.c_fc", "all", 0, 2 * M] as Piece], all: [q, k, v, o, gate, up, down] }));
}

/**
 * The LoRA target names this model accepts.
 * gpt2: c_attn (the fused q,k,v projection: one A), q, k, v (row slices of c_attn, each its own A and B),
 * c_proj (= attn.c_proj), c_fc, mlp.c_proj, lm_head (untied heads only).
 * llama: q, k, v, o, gate, up, down (also spelled q_proj ... down_proj; q/k/v and gate/up are row slices of
 * the fused c_attn / c_fc), c_attn and c_fc (the fused layers whole: q,k,v or gate,up sharing one A), lm_head.
 * `all` = every Linear of the blocks (gpt2: c_attn, c_proj, c_fc, mlp.c_proj; llama: q, k, v, o, gate, up, down).
 */
export function loraTargetNames(model: PeftModel): string[] {
  return [...targetTable(model.config).keys(), "lm_head"];
}

/** The sites one target name stands for, in every block (or the untied lm_head); throws for an unknown name. */
export function loraSites(model: PeftModel, target: string, r: number, alpha: number): LoraSite[] {
  const c = model.config;
  if (target === "lm_head") {
    if (c.tiedEmbeddings) throw new PeftError("LoRA target lm_head: this model ties its head to the token embedding (wte), so there is no lm_head layer");
    return [{ path: "lm_head", label: "all", start: 0, end: c.vocabSize, target, r, alpha }];
  }
  const pieces = targetTable(c).get(target);
  if (!pieces) throw new PeftError(`LoRA target "${target}" names no layer of this ${c.flavour} model; targets: ${loraTargetNames(model).join(", ")}`);
  const sites: LoraSite[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    for (const [path, label, start, end] of pieces) sites.push({ path: `h.${i}.${path}`, label, start, end, target, r, alpha });
  }
  return sites;
}

/** Splits "q,v" / ["q", "v"] into target names; the flavour's default (gpt2: c_attn, llama: q,v) when absent. */
export function parseTargets(model: PeftModel, targets: string | readonly string[] | undefined): string[] {
  if (targets === undefined) return model.config.flavour === "gpt2" ? ["c_attn"] : ["q", "v"];
  const list = (typeof targets === "string" ? targets.split(",") : targets).map((t) => t.trim()).filter((t) => t !== "");
  if (list.length === 0) throw new PeftError(`LoRA targets are empty; choose from ${loraTargetNames(model).join(", ")}`);
  return [...new Set(list)];
}

/** Wraps every Linear named by `sites` in a LoRALinear (parts grouped per layer); the sites must not overlap. */
export function attachLora(model: PeftModel, sites: readonly LoraSite[], opts: { dropout?: number; rslora?: boolean; seed?: number } = {}): void {
  const byPath = new Map<string, LoraSite[]>();
  for (const s of sites) byPath.set(s.path, [...(byPath.get(s.path) ?? []), s]);
  const rng = new Rng(opts.seed ?? 0);
  for (const [path, group] of byPath) {
    for (const a of group) {
      const b = group.find((x) => x !== a && x.start < a.end && a.start < x.end);
      if (b) throw new PeftError(`LoRA targets "${a.target}" and "${b.target}" overlap in ${path}: target either the fused layer or its parts`);
    }
    const base = model.getSubmodule(path);
    if (!(base instanceof Linear)) throw new PeftError(`${path} is a ${base.constructor.name}, not a plain Linear: is an adapter already attached?`);
    const specs = group.map((s) => ({ label: s.label, start: s.start, end: s.end, r: s.r, alpha: s.alpha, rslora: opts.rslora }));
    model.setSubmodule(path, new LoRALinear(base, specs, { dropout: opts.dropout, rng }));
  }
}

/** Merges (true) or unmerges (false) every LoRA layer of the model in place, keeping the LoRA modules. */
export function setLoraMerged(model: Module, merged: boolean): void {
  for (const [, m] of model.namedModules()) if (m instanceof LoRALinear) (merged ? m.merge() : m.unmerge());
}

/** Merges every LoRA layer into its base weight and puts the plain Linear back; returns how many. */
export function mergeAndUnloadLora(model: Module): number {
  const lora = model.namedModules().filter((e): e is [string, LoRALinear] => e[1] instanceof LoRALinear);
  for (const [path, m] of lora) model.setSubmodule(path, m.mergeAndUnload());
  return lora.length;
}

/** A glob over dotted module paths as a RegExp: `*` = one path part, `**` = any number of parts. */
function globToRegExp(pattern: string): RegExp {
  const esc = pattern.split("**").map((p) => p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^.]*")).join(".*");
  return new RegExp(`^${esc}$`);
}

/** Freezes the modules whose paths match any pattern; a pattern matching nothing is an error. */
export function freezeModules(model: Module, patterns: readonly string[]): void {
  const mods = model.namedModules().filter(([p]) => p !== "");
  for (const pattern of patterns) {
    const re = globToRegExp(pattern);
    const hit = mods.filter(([p]) => re.test(p));
    if (hit.length === 0) throw new PeftError(`freeze pattern "${pattern}" matches no module; paths look like ${mods.slice(0, 8).map(([p]) => p).join(", ")}, ...`);
    for (const [, m] of hit) m.requiresGrad(false);
  }
}

/** "41k", "2.2M": a parameter count for one line of output. */
function short(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}k`;
  return String(n);
}

/** "trainable 41k of 2.2M (1.9%)". */
export function formatTrainable(trainable: number, total: number): string {
  const pct = total > 0 ? (100 * trainable) / total : 0;
  return `trainable ${short(trainable)} of ${short(total)} (${pct > 0 && pct < 0.1 ? pct.toPrecision(2) : pct.toFixed(1)}%)`;
}

/** What {@link applyPeft} returns. Counts are live (they follow a later merge). */
export interface PeftHandle {
  readonly config: PeftConfig;
  readonly trainable: number;
  readonly total: number;
  /** "trainable 41k of 2.2M (1.9%)". */
  summary(): string;
  /** Only the tensors the method added (LoRA A/B, adapter and prefix parameters), by parameter name. */
  adapterState(): Map<string, Tensor>;
  /** LoRA only: merges every update into the base weights and removes the LoRA modules (the model is a plain GPT again; its weights stay frozen). */
  mergeInto?: () => void;
}

/** Builds the handle for `model` after `added` modules were attached. */
export function peftHandle(model: PeftModel, config: PeftConfig, added: readonly Module[]): PeftHandle {
  const params = (): Set<Tensor> => new Set(added.flatMap((m) => m.parameters()));
  return {
    config,
    get trainable() { return model.numParameters(true); },
    get total() { return model.numParameters(); },
    summary: () => formatTrainable(model.numParameters(true), model.numParameters()),
    adapterState: () => {
      const own = params();
      return new Map(model.namedParameters().filter(([, p]) => own.has(p)));
    },
    mergeInto: config.method === "lora" ? () => { mergeAndUnloadLora(model); } : undefined,
  };
}

/**
 * Attaches a PEFT method to `model` (validated config; see {@link peftConfigSchema}) and freezes
 * what the method does not train: lora/adapter/prefix freeze everything already in the model
 * (so apply one method per model); freeze freezes what its options say and leaves the rest as it was.
 * Train `model.parameters().filter((p) => p.requiresGrad)` (or `model.paramGroups(wd)`).
 */
export function applyPeft(model: PeftModel, input: PeftConfigInput | PeftConfig): PeftHandle {
  const cfg = parsePeftConfig(input);
  const c = model.config;
  if (cfg.method === "none") return peftHandle(model, cfg, []);
  if (cfg.method === "freeze") {
    if (cfg.trainLastLayers !== undefined) {
      if (cfg.trainLastLayers > c.nLayer) throw new PeftError(`trainLastLayers ${cfg.trainLastLayers} exceeds the model's ${c.nLayer} layers`);
      model.requiresGrad(false);
      const keep = [...Array.from({ length: cfg.trainLastLayers }, (_, i) => `h.${c.nLayer - 1 - i}`), "ln_f", ...(c.tiedEmbeddings ? [] : ["lm_head"])];
      for (const p of keep) model.getSubmodule(p).requiresGrad(true);
    }
    freezeModules(model, cfg.freeze);
    return peftHandle(model, cfg, []);
  }
  model.requiresGrad(false);
  const rng = new Rng(cfg.seed);
  if (cfg.method === "lora") {
    const sites = parseTargets(model, cfg.targets).flatMap((t) => loraSites(model, t, cfg.r, cfg.alpha));
    attachLora(model, sites, { dropout: cfg.dropout, rslora: cfg.rslora, seed: cfg.seed });
    return peftHandle(model, cfg, model.namedModules().map(([, m]) => m).filter((m) => m instanceof LoRAPart));
  }
  if (cfg.method === "adapter") {
    const added: Module[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      for (const path of cfg.placement === "houlsby" ? [`h.${i}.attn.c_proj`, `h.${i}.mlp.c_proj`] : [`h.${i}.mlp.c_proj`]) {
        const base = model.getSubmodule(path);
        if (!(base instanceof Linear)) throw new PeftError(`${path} is a ${base.constructor.name}, not a plain Linear: is an adapter already attached?`);
        const wrapped = new AdaptedLinear(base, { reductionFactor: cfg.reductionFactor, activation: cfg.activation, rng });
        model.setSubmodule(path, wrapped);
        added.push(wrapped.adapter);
      }
    }
    return peftHandle(model, cfg, added);
  }
  const like = model.parameters()[0];
  const prefix = new PrefixTuning({
    nLayer: c.nLayer, kvDim: c.nKvHead * (c.nEmbd / c.nHead), nEmbd: c.nEmbd, numVirtualTokens: cfg.numVirtualTokens,
    projectionHidden: cfg.projectionHidden, initStd: c.initStd, po: { dtype: like.dtype, backend: like.backend.name, rng },
  });
  if (model.namedModules().some(([p]) => p === "prefix")) throw new PeftError("this model already has a prefix attached");
  model.addModule("prefix", prefix);
  prefix.attach(Array.from({ length: c.nLayer }, (_, i) => model.getSubmodule(`h.${i}.attn`) as unknown as OverridableAttention));
  return peftHandle(model, cfg, [prefix]);
}
