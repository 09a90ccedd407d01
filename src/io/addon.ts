// Finds and loads the native addons that `npm install` builds into build/Release (scripts/build-native.mjs):
// llmforge_native (the tensor backend) and llmforge_text (the data pipeline's text kernels). Loading never
// throws: a missing or broken addon gives null and a sentence saying why, and the caller runs its TypeScript path.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root: the nearest directory above this file whose package.json is named llmforge. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "llmforge") return dir;
      } catch {
        // unreadable package.json: keep looking upward
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no llmforge package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * Loads build/Release/<name>.node; `check` is called on the loaded module (e.g. to call a function it must have)
 * and may throw. Returns the module, or null with the reason.
 */
export function loadAddon<T>(name: string, check: (addon: T) => void = () => {}): { addon: T | null; error: string | null } {
  let path = `build/Release/${name}.node`;
  try {
    path = join(packageRoot(), "build", "Release", `${name}.node`);
    if (!existsSync(path)) return { addon: null, error: `native addon not built (${path} is missing; run \`npm run build:native\`, see build/native-build.log)` };
    const addon = createRequire(import.meta.url)(path) as T;
    check(addon);
    return { addon, error: null };
  } catch (e) {
    return { addon: null, error: `native addon at ${path} failed to load: ${(e as Error).message}` };
  }
}
