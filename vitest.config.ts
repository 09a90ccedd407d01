import { configDefaults, defineConfig } from "vitest/config";

// End-to-end runs whose assertions depend on what a wall-clock budget buys (the quickstart's stages train for a share of
// --minutes): they run after every other file, alone on the machine, so that the other files' processes do not cut
// their steps (with two busy cores the quickstart's reward model got 185 steps instead of ~1100 and learnt nothing).
const timed = ["test/pipeline/quickstart.test.ts"];

export default defineConfig({
  test: {
    setupFiles: ["test/setup/tmpdir.ts"],
    testTimeout: 60_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...timed], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "timed", include: timed, sequence: { groupOrder: 1 } } },
    ],
  },
});
