// Every differentiable op, one import away: `import { ops } from "llmforge"`.
export * from "./elementwise.js";
export * from "./reduce.js";
export * from "./shape.js";
export * from "./matmul.js";
export * from "./nnops.js";
export * from "./rows.js";
