// The package version, shared by the CLI, doctor and every file header llmforge writes.
export const VERSION = "0.1.0";
