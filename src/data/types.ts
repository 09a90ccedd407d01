// Core types of the data pipeline: the JSONL document record every stage reads and writes,
// the error policy for bad input, and the error class that names the file and line at fault.

/** One document as it flows through every data stage (one JSON object per JSONL line). */
export interface DataDoc {
  /** Stable id, unique within a corpus (e.g. `brown/ca01#3`). */
  id: string;
  /** The document text, NFC-normalised. */
  text: string;
  /** Where it came from (a source name used for mixing and stats). */
  source: string;
  /** Free-form metadata: reader facts (file, line, language, kind) and scores added by stages. */
  meta: Record<string, unknown>;
}

/** What to do with a bad input unit: count it and go on, or stop with an error. */
export type OnErrorPolicy = "skip" | "fail";

/** A bad input found by a reader: names the file, the 1-based line (0 when it concerns the whole file) and why. */
export class DataInputError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ""}: ${reason} (use --on-error skip to count such inputs and go on)`);
    this.name = "DataInputError";
  }
}

/** A configuration or usage mistake (bad recipe, unknown rule, missing option). */
export class DataConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataConfigError";
  }
}

/** Checks that a parsed JSON value is a well-formed {@link DataDoc}; returns a reason string when it is not. */
export function dataDocProblem(v: unknown): string | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "expected a JSON object";
  const o = v as Record<string, unknown>;
  if (typeof o.text !== "string") return 'missing string field "text"';
  if (o.id !== undefined && typeof o.id !== "string") return 'field "id" must be a string';
  if (o.source !== undefined && typeof o.source !== "string") return 'field "source" must be a string';
  if (o.meta !== undefined && (typeof o.meta !== "object" || o.meta === null)) return 'field "meta" must be an object';
  return null;
}
