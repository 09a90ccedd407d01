// llmforge library API: everything a script needs, from the package root.
export { VERSION } from "./version.js";
export { writeFileAtomic, writeFileAtomicSync, AtomicFileWriter } from "./io/atomicWrite.js";
export { Progress } from "./cli/progress.js";
export * from "./io/jsonl.js";
export * from "./data/index.js";
export * from "./tokenizer/index.js";
