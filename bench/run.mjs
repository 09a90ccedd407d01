// `npm run bench`: runs every bench/*.bench.ts (each writes bench/results/<name>.md),
// then assembles BENCHMARKS.md from those sections. Pass names to run a subset: `npm run bench -- gemm`.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const benchDir = join(root, "bench");
const resultsDir = join(benchDir, "results");
mkdirSync(resultsDir, { recursive: true });
const only = process.argv.slice(2);
const suites = readdirSync(benchDir)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(/\.bench\.ts$/, ""))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();
let failed = 0;
for (const name of suites) {
  console.log(`== bench ${name}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(benchDir, `${name}.bench.ts`)], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, LLMFORGE_BENCH_OUT: join(resultsDir, `${name}.md`) },
  });
  if (r.status !== 0) failed++;
}
const sections = readdirSync(resultsDir)
  .filter((f) => f.endsWith(".md"))
  .sort()
  .map((f) => readFileSync(join(resultsDir, f), "utf8").trim());
const header = `# llmforge benchmarks\n\nProduced by \`npm run bench\` (each section by \`bench/<name>.bench.ts\`; rerun one with \`npm run bench -- <name>\`).\nFigures are taken side by side with peers in the same run and compared as ratios; this machine is noisy.\n`;
writeFileSync(join(root, "BENCHMARKS.md"), `${header}\n${sections.join("\n\n")}\n`);
if (existsSync(join(root, "BENCHMARKS.md"))) console.log("wrote BENCHMARKS.md");
process.exit(failed > 0 ? 1 : 0);
