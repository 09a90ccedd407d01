// The built-in tools and user tool modules: the calculator's exact arithmetic (checked against BigInt and against
// fractions computed independently), its refusals (syntax, division by zero, huge results, deep nesting), the date
// in a time zone, user modules with zod or JSON-schema parameters, and runs that throw or time out.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  argumentSchema, CalculatorError, calculate, calculatorTool, dateInZone, dateTool, evaluateRational, kbSearchTool, loadToolModule, parametersJsonSchema, runTool, type Tool,
  ToolDefinitionError, toOpenAiTools,
} from "../../src/kb/tools.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-tools-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("calculator", () => {
  it("computes exactly: precedence, unary minus, powers, decimals, big integers", () => {
    const cases: [string, string][] = [
      ["1 + 2 * 3", "7"], ["(1 + 2) * 3", "9"], ["2 ^ 3 ^ 2", "512"], ["-2 ^ 2", "-4"], ["(-2) ^ 2", "4"], ["2 ^ -2", "0.25"], ["- - 3", "3"],
      ["0.1 + 0.2", "0.3"], ["1.5 * 4", "6"], ["7 / 2", "3.5"], ["10 - 12.25", "-2.25"], ["1 / 3", "1/3 (≈ 0.333333333333)"], ["-2 / 3", "-2/3 (≈ -0.666666666667)"],
      ["2 ** 100", "1267650600228229401496703205376"], ["99999999999999999999 * 99999999999999999999", "9999999999999999999800000000000000000001"],
      ["3 × 4 ÷ 6", "2"], [" 12 ", "12"], ["1e3 + .5", "1000.5"], ["(-1) ^ 1000001", "-1"], ["0 ^ 0", "1"], ["1 ^ 123456789012", "1"],
    ];
    for (const [e, want] of cases) expect(calculate(e), e).toBe(want);
  });

  it("agrees with BigInt arithmetic on random integer expressions", () => {
    const leaf = fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((v) => ({ text: v < 0n ? `(${v})` : `${v}`, value: v }));
    const expr = fc.letrec<{ node: { text: string; value: bigint } }>((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        leaf,
        fc.tuple(tie("node"), fc.constantFrom("+", "-", "*"), tie("node")).map(([a, op, b]) => ({
          text: `(${a.text} ${op} ${b.text})`,
          value: op === "+" ? a.value + b.value : op === "-" ? a.value - b.value : a.value * b.value,
        })),
      ),
    })).node;
    fc.assert(fc.property(expr, (x) => {
      expect(calculate(x.text)).toBe(x.value.toString());
    }), { numRuns: 300 });
  });

  it("agrees with fractions computed independently for division", () => {
    fc.assert(
      fc.property(fc.integer({ min: -10_000, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 50 }), (a, b, c) => {
        const r = evaluateRational(`${a} / ${b} / ${c}`);
        expect(r.num * BigInt(b * c)).toBe(BigInt(a) * r.den); // a/(b c) = num/den
        expect(r.den > 0n).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses what it cannot do exactly or safely, naming where", () => {
    const refuse = (e: string, why: RegExp) => expect(() => calculate(e), e).toThrow(why);
    refuse("1 / 0", /division by zero/);
    refuse("1 / (2 - 2)", /division by zero/);
    refuse("0 ^ -1", /division by zero/);
    refuse("2 ^ 0.5", /whole number/);
    refuse("10 ^ 100000", /more than 2000 digits/);
    refuse("9 ^ 9 ^ 9", /more than 2000 digits/);
    refuse("1 +", /ends too early/);
    refuse("2 3", /unexpected "3" at position 3/);
    refuse("(1 + 2", /missing \)/);
    refuse("", /empty/);
    refuse("process.exit(1)", /expected a number/);
    refuse("1; require('fs')", /unexpected ";"/);
    refuse(`${"(".repeat(200)}1${")".repeat(200)}`, /nesting deeper/);
    refuse(`${"-".repeat(200)}1`, /nesting deeper/);
    expect(calculate(`${"(".repeat(90)}1${")".repeat(90)}`)).toBe("1");
    refuse("1+".repeat(600), /longer than 1000/);
    expect(() => calculate("1 / 0")).toThrow(CalculatorError);
    fc.assert(fc.property(fc.string({ maxLength: 30 }), (s) => {
      try {
        calculate(s);
      } catch (err) {
        expect(err).toBeInstanceOf(CalculatorError);
      }
    }), { numRuns: 500 });
  });

  it("runs as a tool: results and errors as text for the model", async () => {
    expect(await runTool(calculatorTool, { expression: "6 * 7" })).toMatchObject({ ok: true, content: "42" });
    const r = await runTool(calculatorTool, { expression: "1/0" });
    expect(r.ok).toBe(false);
    expect(r.content).toMatch(/^error: calculator failed: division by zero/);
  });
});

describe("date", () => {
  const now = new Date("2026-07-01T12:34:56.789Z");
  it("gives ISO date and time with the zone's offset", () => {
    expect(dateInZone(now)).toMatchObject({ iso: "2026-07-01T12:34:56Z", weekday: "Wednesday", utcOffset: "+00:00" });
    expect(dateInZone(now, "Europe/Paris")).toMatchObject({ iso: "2026-07-01T14:34:56+02:00", date: "2026-07-01", time: "14:34:56" });
    expect(dateInZone(now, "America/St_Johns").utcOffset).toBe("-02:30");
    expect(dateInZone(now, "Pacific/Kiritimati")).toMatchObject({ date: "2026-07-02", utcOffset: "+14:00" });
    expect(() => dateInZone(now, "Mars/Olympus")).toThrow(/unknown time zone "Mars\/Olympus"/);
  });
  it("runs as a tool; a bad zone comes back as a tool error", async () => {
    const t = dateTool(() => now);
    expect(JSON.parse((await runTool(t, { timezone: "Asia/Kolkata" })).content).iso).toBe("2026-07-01T18:04:56+05:30");
    expect(await runTool(t, { timezone: "nowhere" })).toMatchObject({ ok: false });
  });
});

describe("tool definitions and runs", () => {
  it("describes zod and JSON-schema parameters the same way, and checks arguments with either", () => {
    const [calc] = toOpenAiTools([calculatorTool]);
    expect(calc.function.parameters).toMatchObject({ type: "object", properties: { expression: { type: "string" } }, required: ["expression"] });
    const json: Tool = { name: "j", description: "", parameters: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] }, run: () => "" };
    expect(parametersJsonSchema(json)).toBe(json.parameters);
    expect(argumentSchema(json).safeParse({ n: 3 }).success).toBe(true);
    expect(argumentSchema(json).safeParse({ n: "x" }).success).toBe(false);
    expect(argumentSchema(calculatorTool).safeParse({ expression: 3 }).success).toBe(false);
  });

  it("reports throws, rejections and timeouts as tool errors", async () => {
    const mk = (run: Tool["run"], timeoutMs?: number): Tool => ({ name: "t", description: "", parameters: z.object({}), run, timeoutMs });
    expect(await runTool(mk(() => { throw new Error("boom"); }), {})).toMatchObject({ ok: false, content: "error: t failed: boom" });
    expect(await runTool(mk(async () => Promise.reject("nope")), {})).toMatchObject({ ok: false, content: "error: t failed: nope" });
    let aborted = false;
    const slow = mk((_a, ctx) => new Promise((res) => { ctx.signal.addEventListener("abort", () => { aborted = true; }); setTimeout(res, 5000); }), 50);
    const t0 = performance.now();
    expect(await runTool(slow, {})).toMatchObject({ ok: false, content: "error: t failed: timed out after 50 ms" });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(aborted).toBe(true);
    expect(await runTool(mk(() => ({ a: [1, 2] })), {})).toMatchObject({ ok: true, content: '{"a":[1,2]}' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect((await runTool(mk(() => cyclic), {})).ok).toBe(true);
  });

  it("loads user tools from JS modules and names what is wrong with a bad one", async () => {
    const good = join(dir, "good.mjs");
    writeFileSync(good, `export default [{ name: "echo", description: "echo", parameters: { type: "object", properties: { s: { type: "string" } } }, run: (a) => a.s }];\n`);
    const [echo] = await loadToolModule(good);
    expect(echo.name).toBe("echo");
    expect(await runTool(echo, { s: "hi" })).toMatchObject({ ok: true, content: "hi" });
    const named = join(dir, "named.mjs");
    writeFileSync(named, `export const shout = { name: "shout", description: "", parameters: {}, run: (a) => String(a.s).toUpperCase() };\nexport const version = 2;\n`);
    expect((await loadToolModule(named)).map((t) => t.name)).toEqual(["shout"]);
    const bad = join(dir, "bad.mjs");
    writeFileSync(bad, `export default { name: "has space", description: "", parameters: {}, run() {} };\n`);
    await expect(loadToolModule(bad)).rejects.toThrow(/bad\.mjs \(export default\): "name" must be/);
    const noRun = join(dir, "norun.mjs");
    writeFileSync(noRun, `export default { name: "x", description: "", parameters: {} };\n`);
    await expect(loadToolModule(noRun)).rejects.toThrow(ToolDefinitionError);
    const broken = join(dir, "broken.mjs");
    writeFileSync(broken, "export default {;\n");
    await expect(loadToolModule(broken)).rejects.toThrow(/cannot load as a JS module/);
    await expect(loadToolModule(join(dir, "missing.mjs"))).rejects.toThrow(/no such tool module/);
  });

  it("has no knowledge-base search tool without a knowledge base file", async () => {
    expect(await kbSearchTool(join(dir, "none.sqlite"))).toBeNull();
  });
});
