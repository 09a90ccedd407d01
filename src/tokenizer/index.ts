// Public API of the tokenizer (re-exported from the package root).
export {};
