// Public API of the data pipeline (re-exported from the package root).
export {};
