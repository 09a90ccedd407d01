// Answer and classification metrics against their definitions: SQuAD EM/F1 against a Python port of the official
// v1.1 script, accuracy / precision / recall / F1 / confusion matrix against scikit-learn 1.2.1 (fixture written by
// scripts/make_classification_fixture.py), and expected calibration error against hand-computed tables.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type AverageMode,
  type ClassLabel,
  MetricInputError,
  accuracy,
  confusionMatrix,
  expectedCalibrationError,
  normalizeSquadAnswer,
  precisionRecallF1,
  squadExactMatch,
  squadF1,
  squadScores,
} from "../../src/eval/metrics/classification.js";

interface SquadCase {
  prediction: string;
  groundTruths: string[];
  normalized: string;
  exactMatch: number;
  f1: number;
}
interface PrfEntry {
  average: AverageMode;
  zeroDivision: 0 | 1 | "warn";
  error?: string;
  precision?: number | number[];
  recall?: number | number[];
  f?: number | number[];
  f1Score?: number | number[];
  support?: number[] | null;
}
interface LabelCase {
  yTrue: ClassLabel[];
  yPred: ClassLabel[];
  labels?: ClassLabel[];
  posLabel?: ClassLabel;
  accuracy: number;
  confusion: number[][] | { error: string };
  prf: PrfEntry[];
}
interface Fixture {
  format: string;
  sklearn: string;
  squad: SquadCase[];
  squadCorpus: { examples: Array<{ prediction: string | null; groundTruths: string[] }>; exactMatch: number; f1: number };
  classification: LabelCase[];
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/classification.json", import.meta.url), "utf8")) as Fixture;
const TOL = 1e-12;

function expectClose(actual: number | readonly number[], expected: number | readonly number[], what: string): void {
  const a = typeof actual === "number" ? [actual] : actual;
  const e = typeof expected === "number" ? [expected] : expected;
  expect(a.length, what).toBe(e.length);
  a.forEach((x, i) => {
    expect(Math.abs(x - e[i]) <= TOL, `${what}[${i}]: ${x} vs ${e[i]}`).toBe(true);
  });
}

describe("fixture", () => {
  it("is the versioned file from scikit-learn 1.2.1", () => {
    expect(fixture.format).toBe("llmforge classification metrics v1");
    expect(fixture.sklearn).toBe("1.2.1");
    expect(fixture.squad.length).toBeGreaterThan(80);
    expect(fixture.classification.length).toBeGreaterThanOrEqual(100);
  });
});

describe("SQuAD v1.1 matches the official script", () => {
  it("normalises, scores EM and F1 like the Python port on every fixture answer", () => {
    for (const c of fixture.squad) {
      const what = JSON.stringify(c.prediction);
      expect(normalizeSquadAnswer(c.prediction), what).toBe(c.normalized);
      expect(squadExactMatch(c.prediction, c.groundTruths), what).toBe(c.exactMatch);
      expectClose(squadF1(c.prediction, c.groundTruths), c.f1, what);
    }
  });

  it("corpus scores are percentages over all questions, unanswered ones counted as 0", () => {
    const ex = fixture.squadCorpus.examples.map((e) => ({ prediction: e.prediction ?? undefined, groundTruths: e.groundTruths }));
    const s = squadScores(ex);
    expect(s.count).toBe(ex.length);
    expectClose(s.exactMatch, fixture.squadCorpus.exactMatch, "exactMatch");
    expectClose(s.f1, fixture.squadCorpus.f1, "f1");
  });

  it("follows the official order and edge cases", () => {
    // punctuation goes before articles: "the-end" becomes "theend", which keeps its "the"
    expect(normalizeSquadAnswer("the-end")).toBe("theend");
    expect(normalizeSquadAnswer("  The  quick,   brown fox. ")).toBe("quick brown fox");
    // Unicode word characters next to an article keep it, as Python's \b does
    expect(normalizeSquadAnswer("éthe x²a")).toBe("éthe x²a");
    // both normalise to "": exact match 1 but F1 0 (no common tokens)
    expect(squadExactMatch("The", ["a"])).toBe(1);
    expect(squadF1("The", ["a"])).toBe(0);
    expect(squadF1("", [""])).toBe(0);
    // Counter intersection: "cat" shared twice, P = 2/3, R = 2/2
    expectClose(squadF1("the cat cat dog", ["cat cat"]), (2 * (2 / 3) * 1) / (2 / 3 + 1), "F1");
    // best over ground truths
    expect(squadF1("Paris", ["London", "paris!"])).toBe(1);
    expect(() => squadF1("x", [])).toThrow(MetricInputError);
    expect(() => squadScores([])).toThrow(MetricInputError);
  });
});

describe("classification matches scikit-learn 1.2.1", () => {
  it("accuracy_score on every fixture case", () => {
    for (const c of fixture.classification) expectClose(accuracy(c.yTrue, c.yPred), c.accuracy, JSON.stringify(c.yTrue));
  });

  it("confusion_matrix on every fixture case, errors where scikit-learn refuses", () => {
    for (const c of fixture.classification) {
      const what = `${JSON.stringify(c.yTrue)} / ${JSON.stringify(c.yPred)} labels ${JSON.stringify(c.labels)}`;
      if ("error" in c.confusion) expect(() => confusionMatrix(c.yTrue, c.yPred, c.labels), what).toThrow(MetricInputError);
      else expect(confusionMatrix(c.yTrue, c.yPred, c.labels).matrix, what).toEqual(c.confusion);
    }
  });

  it("precision_recall_fscore_support and f1_score for every average and zero_division", () => {
    let checked = 0;
    for (const c of fixture.classification) {
      for (const e of c.prf) {
        const what = `${JSON.stringify(c.yTrue)} / ${JSON.stringify(c.yPred)} ${e.average} zd=${e.zeroDivision} labels ${JSON.stringify(c.labels)} pos ${JSON.stringify(c.posLabel)}`;
        const options = { average: e.average, zeroDivision: e.zeroDivision, labels: c.labels, posLabel: c.posLabel };
        if (e.error !== undefined) {
          expect(() => precisionRecallF1(c.yTrue, c.yPred, options), `${what}: ${e.error}`).toThrow(MetricInputError);
          continue;
        }
        const r = precisionRecallF1(c.yTrue, c.yPred, options);
        expectClose(r.precision, e.precision as number | number[], `${what} precision`);
        expectClose(r.recall, e.recall as number | number[], `${what} recall`);
        expectClose(r.f1, e.f as number | number[], `${what} f`);
        expectClose(r.f1, e.f1Score as number | number[], `${what} f1_score`);
        if ("support" in r) expect(r.support, what).toEqual(e.support);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it("returns per-label scores in the order of `labels`", () => {
    const yTrue = ["cat", "dog", "pig", "cat", "dog", "pig"];
    const yPred = ["cat", "pig", "dog", "cat", "cat", "dog"];
    const r = precisionRecallF1(yTrue, yPred, { average: "none", labels: ["pig", "dog", "cat"] });
    expect(r.labels).toEqual(["pig", "dog", "cat"]);
    expect(r.support).toEqual([2, 2, 2]);
    expectClose(r.f1, [0, 0, 0.8], "f1");
    expect(confusionMatrix(yTrue, yPred).labels).toEqual(["cat", "dog", "pig"]);
  });

  it("refuses inputs it cannot score", () => {
    expect(() => accuracy([1, 2], [1])).toThrow(MetricInputError);
    expect(() => accuracy([], [])).toThrow(MetricInputError);
    expect(() => accuracy([1, "a"], [1, 1])).toThrow(/mix of label input types/);
    expect(() => accuracy([0.5, 1], [1, 1])).toThrow(/not an integer/);
    expect(() => precisionRecallF1([0, 1, 2], [0, 1, 2], { average: "binary" })).toThrow(/multiclass/);
    expect(() => precisionRecallF1(["a", "b"], ["a", "b"], { average: "binary" })).toThrow(/posLabel 1 is not a valid label/);
    expect(() => precisionRecallF1([0, 1], [0, 1], { average: "macro", labels: [] })).toThrow(MetricInputError);
  });
});

describe("expected calibration error", () => {
  it("bins right-closed intervals, 0 in the first bin and 1 in the last", () => {
    // B = 10: 0 -> bin 0, 0.1 -> bin 0 (right-closed), 0.1000001 -> bin 1, 0.5 -> bin 4, 1 -> bin 9
    const r = expectedCalibrationError([0, 0.1, 0.1000001, 0.5, 1], [false, true, true, true, true]);
    expect(r.bins.map((b) => b.count)).toEqual([2, 1, 0, 0, 1, 0, 0, 0, 0, 1]);
    expect(r.bins[2]).toEqual({ lower: 0.2, upper: 0.3, count: 0, meanConfidence: null, accuracy: null });
    // bin 0: conf 0.05, acc 0.5 -> |0.45| * 2/5; bin 1: |1 - 0.1000001| * 1/5; bin 4: 0.5 * 1/5; bin 9: 0
    const expected = (2 / 5) * 0.45 + (1 / 5) * (1 - 0.1000001) + (1 / 5) * 0.5;
    expectClose(r.ece, expected, "ece");
    // every boundary i/10 falls in bin i-1
    const edges = Array.from({ length: 10 }, (_, i) => (i + 1) / 10);
    const e = expectedCalibrationError(edges, edges.map(() => true));
    expect(e.bins.map((b) => b.count)).toEqual(new Array(10).fill(1));
  });

  it("matches a hand-computed table", () => {
    // B = 4: bins (0,.25], (.25,.5], (.5,.75], (.75,1]
    const conf = [0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95];
    const ok = [false, true, false, true, true, true, false, true];
    const r = expectedCalibrationError(conf, ok, 4);
    expect(r.bins.map((b) => b.count)).toEqual([1, 2, 2, 3]);
    expectClose(r.bins.map((b) => b.meanConfidence as number), [0.2, 0.35, 0.65, (0.8 + 0.9 + 0.95) / 3], "meanConfidence");
    expectClose(r.bins.map((b) => b.accuracy as number), [0, 0.5, 1, 2 / 3], "accuracy");
    // (1/8)*0.2 + (2/8)*0.15 + (2/8)*0.35 + (3/8)*|2/3 - 0.88333| = 0.025 + 0.0375 + 0.0875 + 0.08125
    expectClose(r.ece, 0.23125, "ece");
  });

  it("is 0 when confidence equals accuracy in every bin, and refuses bad input", () => {
    expect(expectedCalibrationError([0.5, 0.5, 1], [true, false, true], 2).ece).toBe(0);
    expect(() => expectedCalibrationError([1.2], [true])).toThrow(MetricInputError);
    expect(() => expectedCalibrationError([Number.NaN], [true])).toThrow(MetricInputError);
    expect(() => expectedCalibrationError([0.5], [true, false])).toThrow(MetricInputError);
    expect(() => expectedCalibrationError([], [])).toThrow(MetricInputError);
    expect(() => expectedCalibrationError([0.5], [true], 0)).toThrow(MetricInputError);
  });
});
