// The CLI's shared option parsers: accepted values, and errors that say what was expected and what came.
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import {
  fractionOption, intOption, interruptedExitCode, nonNegativeIntOption, nonNegativeNumberOption, numberOption, oneOf, positiveIntOption, positiveNumberOption, rangeOption,
} from "../../src/cli/options.js";

describe("cli/options", () => {
  it("parses good values", () => {
    expect(intOption("-3")).toBe(-3);
    expect(positiveIntOption("12")).toBe(12);
    expect(nonNegativeIntOption("0")).toBe(0);
    expect(numberOption("1e-3")).toBe(0.001);
    expect(fractionOption("0")).toBe(0);
    expect(fractionOption("0.25")).toBe(0.25);
    expect(oneOf(["a", "b"])("b")).toBe("b");
    expect(nonNegativeNumberOption("0")).toBe(0);
    expect(positiveNumberOption("0.5")).toBe(0.5);
    expect(rangeOption(0, 0.5)("0.5")).toBe(0.5);
    expect(rangeOption(0, 1)("0")).toBe(0);
  });

  it("maps the stopping signal to the shell's exit status", () => {
    expect(interruptedExitCode("SIGINT")).toBe(130);
    expect(interruptedExitCode("SIGTERM")).toBe(143);
  });

  it("rejects bad values with what was expected", () => {
    const cases: Array<[(v: string) => unknown, string, string]> = [
      [intOption, "1.5", 'expected a whole number, got "1.5"'],
      [positiveIntOption, "12abc", 'expected a positive whole number, got "12abc"'],
      [positiveIntOption, "0", 'expected a positive whole number, got "0"'],
      [nonNegativeIntOption, "-1", 'expected a whole number >= 0, got "-1"'],
      [numberOption, " ", 'expected a number, got " "'],
      [fractionOption, "1", 'expected a fraction >= 0 and < 1, got "1"'],
      [fractionOption, "x", 'expected a fraction >= 0 and < 1, got "x"'],
      [oneOf(["a", "b"]), "c", 'expected one of a, b, got "c"'],
      [nonNegativeNumberOption, "-1", 'expected a number >= 0, got "-1"'],
      [nonNegativeNumberOption, "Infinity", 'expected a number >= 0, got "Infinity"'],
      [positiveNumberOption, "0", 'expected a number > 0, got "0"'],
      [rangeOption(0, 0.5), "0.7", 'expected a number from 0 to 0.5, got "0.7"'],
      [rangeOption(0, 1), "", 'expected a number from 0 to 1, got ""'],
    ];
    for (const [parse, v, message] of cases) {
      expect(() => parse(v)).toThrow(InvalidArgumentError);
      expect(() => parse(v)).toThrow(message);
    }
  });
});
