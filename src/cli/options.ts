// Number parsers for commander options, shared by every command: a bad value names what was expected.
import { InvalidArgumentError } from "commander";

/** A whole number (any sign). */
export function intOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
  return n;
}

/** A whole number > 0. */
export function positiveIntOption(v: string): number {
  const n = intOption(v);
  if (n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${v}"`);
  return n;
}

/** A finite number. */
export function numberOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
  return n;
}

/** One of a fixed list of words. */
export function oneOf<const W extends string>(words: readonly W[]): (v: string) => W {
  return (v) => {
    if (!(words as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${words.join(", ")}, got "${v}"`);
    return v as W;
  };
}
