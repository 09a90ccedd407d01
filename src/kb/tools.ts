// Tools a model may call: an exact calculator (a small recursive-descent parser over BigInt fractions, never `eval`),
// the date in a time zone, knowledge-base search, and user tools loaded from JS modules. Each runs under a timeout;
// a throw or a timeout comes back as a tool error text for the model, never as an exception of the caller.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import type { ToolSchemas } from "./toolCalls.js";

/** A tool: what the model is told (name, description, parameters) and what runs. */
export interface Tool {
  name: string;
  description: string;
  /** The arguments: a zod schema (checked before `run`), or a JSON schema (converted with zod's fromJSONSchema). */
  parameters: z.ZodType | Record<string, unknown>;
  run(args: Record<string, unknown>, ctx: ToolContext): unknown;
  /** Milliseconds before a run is given up (default {@link DEFAULT_TOOL_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** What a running tool gets besides its arguments. */
export interface ToolContext {
  /** Aborted when the run timed out. */
  signal: AbortSignal;
}

/** A tool definition in OpenAI's request shape. */
export interface OpenAiTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export const DEFAULT_TOOL_TIMEOUT_MS = 10_000;

/** A tool definition that cannot be used (bad module, bad shape), naming where it came from. */
export class ToolDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolDefinitionError";
  }
}

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const isZod = (v: unknown): v is z.ZodType => typeof v === "object" && v !== null && typeof (v as { safeParse?: unknown }).safeParse === "function";

/** The zod schema that checks a tool's arguments (a JSON schema is converted; one zod cannot read accepts any object). */
export function argumentSchema(t: Pick<Tool, "name" | "parameters">): z.ZodType {
  if (isZod(t.parameters)) return t.parameters;
  try {
    return z.fromJSONSchema(t.parameters as Parameters<typeof z.fromJSONSchema>[0]);
  } catch {
    return z.record(z.string(), z.unknown());
  }
}

/** The JSON schema of a tool's parameters (a zod schema is converted). */
export function parametersJsonSchema(t: Pick<Tool, "parameters">): Record<string, unknown> {
  if (!isZod(t.parameters)) return t.parameters;
  const { $schema: _drop, ...rest } = z.toJSONSchema(t.parameters, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/** The tools in OpenAI's request shape (what the chat template's `tools` variable takes). */
export function toOpenAiTools(tools: readonly Tool[]): OpenAiTool[] {
  return tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: parametersJsonSchema(t) } }));
}

/** name -> argument schema, for {@link parseToolCalls}. */
export function toolSchemas(tools: readonly Tool[]): ToolSchemas {
  return new Map(tools.map((t) => [t.name, argumentSchema(t)]));
}

/** Checks a tool's shape (a user module may export anything); throws {@link ToolDefinitionError} naming `where`. */
export function checkTool(v: unknown, where: string): Tool {
  const t = v as Partial<Tool> | null;
  if (typeof t !== "object" || t === null) throw new ToolDefinitionError(`${where}: a tool must be an object {name, description, parameters, run}`);
  if (typeof t.name !== "string" || !TOOL_NAME.test(t.name)) throw new ToolDefinitionError(`${where}: "name" must be 1-64 letters, digits, _ or -, got ${JSON.stringify(t.name)}`);
  if (typeof t.description !== "string") throw new ToolDefinitionError(`${where}: tool ${t.name} needs a "description" string`);
  if (!isZod(t.parameters) && (typeof t.parameters !== "object" || t.parameters === null)) {
    throw new ToolDefinitionError(`${where}: tool ${t.name} needs "parameters": a zod schema or a JSON schema object`);
  }
  if (typeof t.run !== "function") throw new ToolDefinitionError(`${where}: tool ${t.name} needs a "run(args)" function`);
  if (t.timeoutMs !== undefined && !(typeof t.timeoutMs === "number" && t.timeoutMs > 0)) throw new ToolDefinitionError(`${where}: tool ${t.name}: timeoutMs must be a positive number`);
  return t as Tool;
}

/** The outcome of one tool run, as text for the `tool` message. */
export interface ToolRun {
  ok: boolean;
  /** The result (strings as is, anything else as JSON), or `error: ...`. */
  content: string;
  ms: number;
}

/**
 * Runs a tool on arguments already checked by its schema, under its timeout. Never throws: a throw, a rejection or a
 * timeout becomes `{ok: false, content: "error: ..."}`, which the agent hands to the model as the tool's answer.
 */
export async function runTool(tool: Tool, args: Record<string, unknown>, o: { timeoutMs?: number } = {}): Promise<ToolRun> {
  const timeoutMs = o.timeoutMs ?? tool.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  const ac = new AbortController();
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    const v = await Promise.race([Promise.resolve().then(() => tool.run(args, { signal: ac.signal })), timeout]);
    let content: string;
    if (typeof v === "string") content = v;
    else {
      try {
        content = JSON.stringify(v) ?? String(v);
      } catch {
        content = String(v);
      }
    }
    return { ok: true, content, ms: performance.now() - t0 };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, content: `error: ${tool.name} failed: ${why}`, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

// ---- calculator: exact rational arithmetic ----

/** An expression the calculator refuses (syntax, division by zero, a result too large), with the position at fault. */
export class CalculatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CalculatorError";
  }
}

/** A fraction num/den in lowest terms, den > 0. */
interface Rational {
  num: bigint;
  den: bigint;
}

const MAX_EXPRESSION = 1000;
const MAX_DEPTH = 100;
/** Results (and intermediate values) with more digits than this are refused rather than computed. */
const MAX_DIGITS = 2000;

const gcd = (a: bigint, b: bigint): bigint => {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
};
const bitLength = (x: bigint): number => (x < 0n ? -x : x).toString(16).length * 4;

function rational(num: bigint, den: bigint): Rational {
  if (den === 0n) throw new CalculatorError("division by zero");
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const g = gcd(num, den);
  const r = g > 1n ? { num: num / g, den: den / g } : { num, den };
  if (bitLength(r.num) > MAX_DIGITS * 3.33 || bitLength(r.den) > MAX_DIGITS * 3.33) throw new CalculatorError(`the result has more than ${MAX_DIGITS} digits`);
  return r;
}

function power(base: Rational, e: Rational): Rational {
  if (e.den !== 1n) throw new CalculatorError("the exponent must be a whole number");
  const n = e.num < 0n ? -e.num : e.num;
  if (base.num === 0n) {
    if (e.num < 0n) throw new CalculatorError("division by zero (0 to a negative power)");
    return { num: n === 0n ? 1n : 0n, den: 1n };
  }
  const absNum = base.num < 0n ? -base.num : base.num;
  // 1 and -1 stay small whatever the exponent; otherwise the result has about n * digits(base) digits: refuse before computing it
  if (absNum === 1n && base.den === 1n) return { num: base.num < 0n && n % 2n === 1n ? -1n : 1n, den: 1n };
  const width = Math.max(absNum.toString().length, base.den.toString().length);
  if (n > BigInt(MAX_DIGITS * 4) || Number(n) * (width - 1) > MAX_DIGITS) throw new CalculatorError(`the result has more than ${MAX_DIGITS} digits`);
  const num = base.num ** n;
  const den = base.den ** n;
  return e.num < 0n ? rational(den, num) : rational(num, den);
}

/** Recursive descent over: expr := term (+|- term)*; term := unary (*|/ unary)*; unary := (+|-) unary | pow; pow := atom (^ unary)?. */
class ArithmeticParser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  parse(): Rational {
    this.skip();
    if (this.pos >= this.s.length) throw new CalculatorError("the expression is empty");
    const v = this.expr();
    this.skip();
    if (this.pos < this.s.length) throw this.error(`unexpected ${JSON.stringify(this.s[this.pos])}`);
    return v;
  }

  private error(what: string): CalculatorError {
    return new CalculatorError(`${what} at position ${this.pos + 1} of ${JSON.stringify(this.s.length > 60 ? `${this.s.slice(0, 60)}...` : this.s)}`);
  }

  private skip(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
  }

  /** The operator at the cursor (normalised: ** -> ^, × -> *, ÷ -> /), or null. */
  private peekOp(): { op: string; len: number } | null {
    this.skip();
    const c = this.s[this.pos];
    if (c === "*" && this.s[this.pos + 1] === "*") return { op: "^", len: 2 };
    if (c === "×") return { op: "*", len: 1 };
    if (c === "÷") return { op: "/", len: 1 };
    if (c !== undefined && "+-*/^".includes(c)) return { op: c, len: 1 };
    return null;
  }

  private nest<T>(f: () => T): T {
    if (++this.depth > MAX_DEPTH) throw this.error(`nesting deeper than ${MAX_DEPTH}`);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  private expr(): Rational {
    let v = this.term();
    for (let o = this.peekOp(); o && (o.op === "+" || o.op === "-"); o = this.peekOp()) {
      this.pos += o.len;
      const r = this.term();
      v = o.op === "+" ? rational(v.num * r.den + r.num * v.den, v.den * r.den) : rational(v.num * r.den - r.num * v.den, v.den * r.den);
    }
    return v;
  }

  private term(): Rational {
    let v = this.unary();
    for (let o = this.peekOp(); o && (o.op === "*" || o.op === "/"); o = this.peekOp()) {
      this.pos += o.len;
      const r = this.unary();
      if (o.op === "*") v = rational(v.num * r.num, v.den * r.den);
      else {
        if (r.num === 0n) throw this.error("division by zero");
        v = rational(v.num * r.den, v.den * r.num);
      }
    }
    return v;
  }

  private unary(): Rational {
    const o = this.peekOp();
    if (o && (o.op === "-" || o.op === "+")) {
      this.pos += o.len;
      return this.nest(() => {
        const v = this.unary();
        return o.op === "-" ? { num: -v.num, den: v.den } : v;
      });
    }
    return this.pow();
  }

  private pow(): Rational {
    const base = this.atom();
    const o = this.peekOp();
    if (o?.op !== "^") return base;
    this.pos += o.len;
    return power(base, this.nest(() => this.unary()));
  }

  private atom(): Rational {
    this.skip();
    const c = this.s[this.pos];
    if (c === "(") {
      this.pos++;
      const v = this.nest(() => this.expr());
      this.skip();
      if (this.s[this.pos] !== ")") throw this.error("missing )");
      this.pos++;
      return v;
    }
    const m = /^(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d{1,4}))?/.exec(this.s.slice(this.pos, this.pos + MAX_EXPRESSION));
    if (!m) throw this.error(c === undefined ? "the expression ends too early" : `expected a number or (, got ${JSON.stringify(c)}`);
    this.pos += m[0].length;
    const [int, frac = ""] = m[1].split(".");
    let num = BigInt(`${int || "0"}${frac}`);
    let den = 10n ** BigInt(frac.length);
    const exp = Number(m[2] ?? 0);
    if (Math.abs(exp) > MAX_DIGITS) throw this.error(`the exponent ${exp} is too large`);
    if (exp > 0) num *= 10n ** BigInt(exp);
    else if (exp < 0) den *= 10n ** BigInt(-exp);
    return rational(num, den);
  }
}

/** The exact value of an expression as a fraction: `{num, den}` in lowest terms. Throws {@link CalculatorError}. */
export function evaluateRational(expression: string): { num: bigint; den: bigint } {
  if (expression.length > MAX_EXPRESSION) throw new CalculatorError(`the expression is longer than ${MAX_EXPRESSION} characters`);
  return new ArithmeticParser(expression).parse();
}

/** A fraction as text: an integer, an exact decimal when the denominator divides a power of ten, else `p/q (≈ decimal)`. */
export function formatRational(r: { num: bigint; den: bigint }): string {
  if (r.den === 1n) return r.num.toString();
  let d = r.den;
  let twos = 0;
  let fives = 0;
  while (d % 2n === 0n) {
    d /= 2n;
    twos++;
  }
  while (d % 5n === 0n) {
    d /= 5n;
    fives++;
  }
  const neg = r.num < 0n;
  const a = neg ? -r.num : r.num;
  const decimal = (places: number): string => {
    const scaled = (a * 10n ** BigInt(places) + (d === 1n ? 0n : r.den / 2n)) / r.den;
    const s = scaled.toString().padStart(places + 1, "0");
    const text = `${s.slice(0, -places)}.${s.slice(-places)}`.replace(/\.?0+$/, "");
    return `${neg && text !== "0" ? "-" : ""}${text}`;
  };
  if (d === 1n) return decimal(Math.max(twos, fives));
  return `${r.num}/${r.den} (≈ ${decimal(12)})`;
}

/** Evaluates an arithmetic expression exactly (integers, decimals, + - * / ^, parentheses, unary minus). Throws {@link CalculatorError}. */
export function calculate(expression: string): string {
  return formatRational(evaluateRational(expression));
}

/** The built-in calculator tool: exact arithmetic on the expression it is given. */
export const calculatorTool: Tool = {
  name: "calculator",
  description: "Exact arithmetic: integers and decimals with + - * / ^, parentheses and unary minus.",
  parameters: z.object({ expression: z.string().describe("the arithmetic expression, e.g. (12.5 + 3) * 4") }),
  run: (args) => calculate(String(args.expression)),
};

// ---- date ----

/** The date and time now in a time zone (IANA name; default UTC), as ISO 8601 with its offset. */
export function dateInZone(now: Date, timeZone = "UTC"): { iso: string; date: string; time: string; weekday: string; timezone: string; utcOffset: string } {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", weekday: "long",
    }).formatToParts(now);
  } catch {
    throw new Error(`unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as "Europe/Paris" or "UTC"`);
  }
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  const date = `${get("year")}-${get("month")}-${get("day")}`;
  const time = `${get("hour")}:${get("minute")}:${get("second")}`;
  const local = Date.UTC(Number(get("year")), Number(get("month")) - 1, Number(get("day")), Number(get("hour")), Number(get("minute")), Number(get("second")));
  const offsetMin = Math.round((local - Math.floor(now.getTime() / 1000) * 1000) / 60_000);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  const utcOffset = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return { iso: `${date}T${time}${utcOffset === "+00:00" ? "Z" : utcOffset}`, date, time, weekday: get("weekday"), timezone: timeZone, utcOffset };
}

/** The built-in date tool (`now` is injectable for tests). */
export function dateTool(now: () => Date = () => new Date()): Tool {
  return {
    name: "date",
    description: "The current date and time (ISO 8601) in a time zone.",
    parameters: z.object({ timezone: z.string().optional().describe('IANA time zone, e.g. "Europe/Paris" (default UTC)') }),
    run: (args) => dateInZone(now(), typeof args.timezone === "string" ? args.timezone : "UTC"),
  };
}

// ---- knowledge-base search ----

/**
 * The knowledge-base search tool over `kbPath` (BM25; chunks with their source), or null when this build has no
 * knowledge-base search (kb/search.ts absent) or the file does not exist.
 */
export async function kbSearchTool(kbPath: string, o: { k?: number } = {}): Promise<Tool | null> {
  if (!existsSync(kbPath)) return null;
  let mods: [typeof import("./store.js"), typeof import("./search.js")];
  try {
    mods = await Promise.all([import("./store.js"), import("./search.js")]);
  } catch {
    return null;
  }
  const [{ KnowledgeBase }, { KbSearcher }] = mods;
  return {
    name: "kb_search",
    description: "Search the knowledge base; returns the best passages with their source.",
    parameters: z.object({ query: z.string().min(1).describe("what to look for"), k: z.number().int().min(1).max(20).optional() }),
    run: (args) => {
      const kb = KnowledgeBase.open(kbPath, { readonly: true });
      try {
        const hits = new KbSearcher(kb, null).search(String(args.query), { k: typeof args.k === "number" ? args.k : (o.k ?? 3), mode: "bm25" });
        if (hits.length === 0) return "no passage found";
        return hits.map((h, i) => `[${i + 1}] ${h.path} (characters ${h.start}-${h.end})\n${h.text}`).join("\n\n");
      } finally {
        kb.close();
      }
    },
  };
}

// ---- user tools ----

/**
 * Loads user tools from a JS module (ESM): its default export (a tool or a list of tools) or, without one, every named
 * export shaped like a tool. Throws {@link ToolDefinitionError} naming the file and the export at fault.
 */
export async function loadToolModule(file: string): Promise<Tool[]> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ToolDefinitionError(`${file}: no such tool module`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ToolDefinitionError(`${file}: cannot load as a JS module (${err instanceof Error ? err.message : String(err)})`);
  }
  const entries: [string, unknown][] =
    mod.default !== undefined
      ? Array.isArray(mod.default)
        ? mod.default.map((t, i) => [`default[${i}]`, t])
        : [["default", mod.default]]
      : Object.entries(mod).filter(([, v]) => typeof v === "object" && v !== null && "run" in v);
  if (entries.length === 0) throw new ToolDefinitionError(`${file}: exports no tool (export default {name, description, parameters, run})`);
  return entries.map(([k, v]) => checkTool(v, `${file} (export ${k})`));
}

/** The built-in tools: calculator and date, plus kb_search when a knowledge base is given and searchable. */
export async function builtinTools(o: { kb?: string; now?: () => Date } = {}): Promise<Tool[]> {
  const tools = [calculatorTool, dateTool(o.now)];
  if (o.kb !== undefined) {
    const kb = await kbSearchTool(o.kb);
    if (kb) tools.push(kb);
  }
  return tools;
}
