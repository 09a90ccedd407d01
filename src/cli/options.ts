// Number parsers for commander options, shared by every command: a bad value names what was expected.
import { InvalidArgumentError } from "commander";

function wholeNumber(v: string, expected: string, ok: (n: number) => boolean): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || !ok(n)) throw new InvalidArgumentError(`expected ${expected}, got "${v}"`);
  return n;
}

/** A whole number (any sign). */
export const intOption = (v: string): number => wholeNumber(v, "a whole number", () => true);

/** A whole number > 0. */
export const positiveIntOption = (v: string): number => wholeNumber(v, "a positive whole number", (n) => n > 0);

/** A whole number >= 0. */
export const nonNegativeIntOption = (v: string): number => wholeNumber(v, "a whole number >= 0", (n) => n >= 0);

/** A finite number. */
export function numberOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
  return n;
}

/** A fraction: a number >= 0 and < 1. */
export function fractionOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !(n >= 0 && n < 1)) throw new InvalidArgumentError(`expected a fraction >= 0 and < 1, got "${v}"`);
  return n;
}

/** One of a fixed list of words. */
export function oneOf<const W extends string>(words: readonly W[]): (v: string) => W {
  return (v) => {
    if (!(words as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${words.join(", ")}, got "${v}"`);
    return v as W;
  };
}
