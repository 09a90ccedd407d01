// Data step folders are whole and single-writer: through the CLI in child processes, a second writer is refused
// while the first holds the folder, a step killed with -9 leaves nothing the next step takes as finished, outputs
// never overlap inputs, a foreign folder needs --overwrite, and reruns replace (not add to) a step's own output.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runMapStep } from "../../src/data/mapSteps.js";
import { runRecipe } from "../../src/data/recipe.js";
import { LOCK_FILE } from "../../src/io/runLock.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const args = (a: string[]) => ["--import", "tsx", join(root, "src/cli/main.ts"), "data", ...a];
const cli = (a: string[]) => {
  const r = spawnSync(process.execPath, args(a), { cwd: root, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const tmp = () => mkdtempSync(join(tmpdir(), "llmforge-outputs-"));
const jsonl = (n: number, tag = "doc") => `${Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${tag}${i}`, text: `The committee met on day ${i} of the ${tag} season to discuss the budget and the weather.` })).join("\n")}\n`;
const parts = (dir: string) => readdirSync(dir).filter((f) => /^part-\d{5}\.jsonl$/.test(f));

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let t = 0; t < 600; t++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts `data clean FIFO -o out`: it holds the lock of `out` while it waits for the FIFO's lines. */
async function blockedClean(d: string): Promise<{ child: ChildProcess; fifo: string; out: string; exited: Promise<number | null> }> {
  const fifo = join(d, "pipe.jsonl");
  expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
  const out = join(d, "out");
  const child = spawn(process.execPath, args(["clean", fifo, "-o", out, "-w", "1", "-q"]), { cwd: root, stdio: "ignore" });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await waitFor(() => existsSync(join(out, LOCK_FILE)), "the first writer's lock");
  return { child, fifo, out, exited };
}

describe.skipIf(process.platform === "win32")("one writer per data folder (CLI)", () => {
  it("refuses a second writer while the first runs, and the first finishes untouched", async () => {
    const d = tmp();
    writeFileSync(join(d, "other.jsonl"), jsonl(3, "other"));
    const { child, fifo, out, exited } = await blockedClean(d);
    const second = cli(["clean", join(d, "other.jsonl"), "-o", out, "-q"]);
    expect(second.code).toBe(1);
    expect(second.err.trim()).toMatch(new RegExp(`^llmforge: ${out} is in use by pid ${child.pid} `));
    expect(second.err.trim().split("\n")).toHaveLength(1);
    writeFileSync(fifo, jsonl(4, "first"));
    expect(await exited).toBe(0);
    expect(readdirSync(out).sort()).toEqual([".shards", "part-00000.jsonl", "stats.json", "stats.md"]);
  }, 60_000);

  it("a step killed with -9 leaves no finished-looking output; the next step refuses it; a rerun takes over", async () => {
    const d = tmp();
    const { child, fifo, out } = await blockedClean(d);
    const fd = openSync(fifo, "w");
    writeSync(fd, jsonl(50, "half"));
    await waitFor(() => existsSync(join(d, ".out.partial")), "the staging folder");
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    closeSync(fd);
    expect(readdirSync(out)).toEqual([LOCK_FILE]); // the dead writer's lock, no shards, no stats
    const next = cli(["dedup", out, "-o", join(d, "dedup"), "-q"]);
    expect(next.code).toBe(1);
    expect(next.err.trim()).toBe(`llmforge: ${out} is not a finished data step (no stats.json): the step writing it was killed or still runs; rerun that step first`);
    expect(existsSync(join(d, "dedup"))).toBe(false);
    writeFileSync(join(d, "real.jsonl"), jsonl(5, "real"));
    expect(cli(["clean", join(d, "real.jsonl"), "-o", out, "-q"]).code).toBe(0);
    expect(readdirSync(out)).not.toContain(LOCK_FILE);
    expect(existsSync(join(d, ".out.partial"))).toBe(false);
    expect(cli(["dedup", out, "-o", join(d, "dedup"), "-q"]).code).toBe(0);
  }, 60_000);
});

describe("whole outputs (CLI)", () => {
  it("refuses outputs equal to or inside an input, and a foreign folder unless --overwrite", () => {
    const d = tmp();
    mkdirSync(join(d, "raw"));
    writeFileSync(join(d, "raw", "a.txt"), "A short plain text document about the weather.");
    const self = cli(["ingest", join(d, "raw"), "-o", join(d, "raw"), "-q"]);
    expect(self.code).toBe(1);
    expect(self.err).toMatch(/output .*raw is the same as the input .*raw: the step would read its own output/);
    const inside = cli(["ingest", join(d, "raw"), "-o", join(d, "raw", "out"), "-q"]);
    expect(inside.code).toBe(1);
    expect(inside.err).toMatch(/is inside the input/);
    expect(readdirSync(join(d, "raw"))).toEqual(["a.txt"]);
    expect(cli(["ingest", join(d, "raw"), "-o", join(d, "ing"), "-q"]).code).toBe(0);
    const inPlace = cli(["clean", join(d, "ing"), "-o", join(d, "ing"), "-q"]);
    expect(inPlace.code).toBe(1);
    expect(inPlace.err).toMatch(/is the same as the input/);
    const holds = cli(["clean", join(d, "ing", "part-00000.jsonl"), "-o", d, "-q"]);
    expect(holds.code).toBe(1);
    expect(holds.err).toMatch(/holds the input .*part-00000\.jsonl: replacing it would delete that input/);

    mkdirSync(join(d, "mine"));
    writeFileSync(join(d, "mine", "notes.txt"), "keep me");
    const foreign = cli(["clean", join(d, "ing"), "-o", join(d, "mine"), "-q"]);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toMatch(/mine is not empty \(notes\.txt\) and is no earlier clean output; choose a new folder or pass --overwrite/);
    expect(readdirSync(join(d, "mine"))).toEqual(["notes.txt"]);
    expect(cli(["clean", join(d, "ing"), "-o", join(d, "mine"), "--overwrite", "-q"]).code).toBe(0);
    expect(readdirSync(join(d, "mine")).sort()).toEqual([".shards", "part-00000.jsonl", "stats.json", "stats.md"]);
    // another step's finished output is foreign too
    expect(cli(["pii", join(d, "mine"), "-o", join(d, "ing"), "-q"]).code).toBe(1);

    writeFileSync(join(d, "sft.jsonl"), `${JSON.stringify({ question: "2+2?", answer: "4" })}\n`);
    const conv = cli(["convert", join(d, "sft.jsonl"), "-o", join(d, "sft.jsonl")]);
    expect(conv.code).toBe(1);
    expect(conv.err).toMatch(/sft\.jsonl is the same as the input/);
    const prefs = cli(["convert", "--to", "preferences", join(d, "sft.jsonl"), "-o", join(d, "sft.jsonl")]);
    expect(prefs.code).toBe(1);
    expect(prefs.err).toMatch(/sft\.jsonl is the same as the input .*: it would be overwritten/);
    expect(readFileSync(join(d, "sft.jsonl"), "utf8")).toContain('"question"');
  }, 60_000);

  it("a rerun replaces the step's own output whole: no old parts beside the new ones", () => {
    const d = tmp();
    writeFileSync(join(d, "big.jsonl"), jsonl(3));
    writeFileSync(join(d, "small.jsonl"), jsonl(1));
    expect(cli(["ingest", join(d, "big.jsonl"), "-o", join(d, "ing"), "--shard-docs", "1", "-q"]).code).toBe(0);
    expect(parts(join(d, "ing"))).toHaveLength(3);
    expect(cli(["ingest", join(d, "small.jsonl"), "-o", join(d, "ing"), "--shard-docs", "1", "-q"]).code).toBe(0);
    expect(parts(join(d, "ing"))).toEqual(["part-00000.jsonl"]);
    expect(readdirSync(d).filter((f) => f.startsWith("."))).toEqual([]); // no staging or old folder left
  }, 60_000);
});

describe("completion markers (API)", () => {
  it("map steps resume from an interrupted staging folder and reuse a finished run's shards", async () => {
    const d = tmp();
    mkdirSync(join(d, "in"));
    for (let i = 0; i < 3; i++) writeFileSync(join(d, "in", `s${i}.jsonl`), jsonl(2, `s${i}`));
    const o = { inputs: [join(d, "in")], outDir: join(d, "out"), workers: 1, progress: false };
    const first = await runMapStep("pii", {}, o);
    expect(first.outputs).toEqual([0, 1, 2].map((i) => join(d, "out", `part-0000${i}.jsonl`)));
    // what a run killed after its shard 1 leaves: a staging folder with that shard and its record, no marker
    renameSync(join(d, "out"), join(d, ".out.partial"));
    for (const f of ["part-00000.jsonl", "part-00002.jsonl", "stats.json", "stats.md"]) rmSync(join(d, ".out.partial", f));
    const resumed = await runMapStep("pii", {}, o);
    expect(resumed.stats.extra.shards_resumed).toBe(1);
    expect(resumed.stats.toJSON().docsOut).toBe(first.stats.toJSON().docsOut);
    // a rerun over the published output reuses all of its shards
    const again = await runMapStep("pii", {}, o);
    expect(again.stats.extra.shards_resumed).toBe(3);
    expect(parts(join(d, "out"))).toHaveLength(3);
    expect(readdirSync(d).sort()).toEqual(["in", "out"]);
  });

  it("a recipe reruns a step whose folder lost its marker, and skips it otherwise", async () => {
    const d = tmp();
    writeFileSync(join(d, "a.txt"), "The committee met on Thursday to discuss the budget. Call 212-555-0199 for details.");
    const recipe = { outDir: join(d, "out"), steps: [{ step: "ingest" as const, config: { inputs: [join(d, "a.txt")] } }, { step: "pii" as const }] };
    await runRecipe(recipe, { progress: false });
    expect((await runRecipe(recipe, { progress: false })).steps.map((s) => s.skipped)).toEqual([true, true]);
    rmSync(join(d, "out", "02-pii", "stats.json"));
    const r = await runRecipe(recipe, { progress: false });
    expect(r.steps.map((s) => s.skipped)).toEqual([true, false]);
    expect(existsSync(join(d, "out", "02-pii", "stats.json"))).toBe(true);
  });
});
