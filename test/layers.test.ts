// The layer map of ../shared/ARCHITECTURE.md, checked on the imports of src/: dependencies point down only,
// library code never imports from cli/, and no folder imports one that imports it back.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Height of each folder of src/ in the map: a file may import from its own height or below. */
const HEIGHT: Record<string, number> = {
  cli: 13, pipeline: 12, serve: 11, kb: 11, eval: 10, report: 10, rl: 9, reward: 9, sft: 9, train: 8, infer: 7,
  model: 6, nn: 5, optim: 4, autograd: 3, tensor: 3, tokenizer: 2, data: 1, io: 0,
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** [importing file, imported file] for every relative value import (type-only imports carry no runtime arrow). */
function imports(): [string, string][] {
  const out: [string, string][] = [];
  for (const f of tsFiles(SRC)) {
    for (const m of readFileSync(f, "utf8").matchAll(/^(?:import|export)(?!\s+type\b)[^;]*?\sfrom\s+"(\.{1,2}\/[^"]+)\.js"/gms)) {
      out.push([relative(SRC, f), relative(SRC, resolve(dirname(f), `${m[1]}.ts`))]);
    }
  }
  return out;
}

const folderOf = (file: string): string => (file.includes("/") ? file.split("/")[0] : "");

describe("the layer map", () => {
  it("knows every folder of src/", () => {
    const folders = readdirSync(SRC).filter((e) => statSync(join(SRC, e)).isDirectory());
    expect(folders.filter((f) => HEIGHT[f] === undefined)).toEqual([]);
  });

  it("has every import point down or sideways, never up (and nothing outside cli/ imports cli/)", () => {
    const up = imports().filter(([a, b]) => {
      const [fa, fb] = [folderOf(a), folderOf(b)];
      return fa !== "" && fb !== "" && HEIGHT[fb] > HEIGHT[fa];
    });
    expect(up.map(([a, b]) => `${a} -> ${b}`)).toEqual([]);
  });

  it("has no two folders importing each other (tensor/ and autograd/, one layer, excepted)", () => {
    const edges = new Set(imports().map(([a, b]) => `${folderOf(a)}>${folderOf(b)}`));
    const cycles = [...edges].filter((e) => {
      const [a, b] = e.split(">");
      return a !== "" && b !== "" && a !== b && a < b && edges.has(`${b}>${a}`) && !(a === "autograd" && b === "tensor");
    });
    expect(cycles).toEqual([]);
  });
});
