// Builds the optional C++ addon (native/) with node-gyp at `npm install`.
// A failed build is not fatal: llmforge then runs on the reference backend and says so.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const force = process.argv.includes("--force");
// the tensor backend and the data pipeline's text kernels (two targets of binding.gyp, one node-gyp run)
const outs = ["llmforge_native", "llmforge_text"].map((n) => join(root, "build", "Release", `${n}.node`));
if (process.env.LLMFORGE_SKIP_NATIVE === "1") {
  console.warn("llmforge: LLMFORGE_SKIP_NATIVE=1, not building the native addon (reference backend only)");
  process.exit(0);
}
if (outs.every((o) => existsSync(o)) && !force) process.exit(0);

// npm puts its bundled node-gyp on PATH for lifecycle scripts; fall back to npm's copy.
const candidates = [
  ["node-gyp", []],
  [process.execPath, [join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js")]],
];
// Build against the headers of the running Node (no download): npm sets npm_config_nodedir;
// otherwise use the install prefix when it carries include/node/node_api.h.
const prefix = join(dirname(process.execPath), "..");
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : "");
// The addon is several translation units (one per ISA): compile them in parallel.
const gypArgs = ["rebuild", "--release", "--jobs=max", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
let ok = false;
let log = "";
for (const [cmd, pre] of candidates) {
  const r = spawnSync(cmd, [...pre, ...gypArgs], { cwd: root, encoding: "utf8", env: process.env });
  log += `$ ${cmd} ${pre.join(" ")} ${gypArgs.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}\n`;
  if (r.status === 0) {
    ok = true;
    break;
  }
}
mkdirSync(join(root, "build"), { recursive: true });
writeFileSync(join(root, "build", "native-build.log"), log);
if (ok) console.log("llmforge: native addons built (build/Release/llmforge_native.node, llmforge_text.node)");
else console.warn("llmforge: native addon did not build; using the reference backend. See build/native-build.log");
