import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cleanText, collapseWhitespace, fixMojibake, parseCleanConfig, removeControlChars, stripMarkup } from "../../src/data/clean.js";
import { buildFilterRules, filterDocument, parseFilterConfig } from "../../src/data/filters/index.js";
import { identifyLanguage } from "../../src/data/filters/language.js";
import { loadQualityModel, qualityScore, saveQualityModel, trainQualityClassifier } from "../../src/data/filters/qualityClassifier.js";
import { DataStats } from "../../src/data/stats.js";
import { TextView } from "../../src/data/textView.js";
import type { DataDoc } from "../../src/data/types.js";

/** Natural English prose that passes every rule at its published defaults. */
const GOOD = [
  "The committee met on Thursday to discuss the new budget for the city schools, and most members agreed that the plan was fair.",
  "Several teachers spoke about the need for smaller classes, while parents asked how the money would be spent over the next year.",
  "After a long debate, the board decided to hold another public hearing before the final vote, which will take place next month.",
  "The mayor said that she was pleased with the progress and that the city would continue to work with the families who live there.",
  "Local newspapers reported that the meeting was one of the largest in recent memory, with more than two hundred people attending.",
  "Officials expect the final budget to be published in the spring, after the state has announced how much funding it will provide.",
].join("\n");

function doc(text: string, extra: Partial<DataDoc> = {}): DataDoc {
  return { id: "t/1", text, source: "test", meta: {}, ...extra };
}

/** Runs only `rule` (others disabled) and returns the stats key of the removal, or null when kept. */
function verdict(rule: string, text: string, opts: Record<string, unknown> = {}): string | null {
  const off = Object.fromEntries(["language", "gopher_quality", "gopher_repetition", "c4", "fineweb", "toxicity"].map((r) => [r, { enabled: r === rule, ...(r === rule ? opts : {}) }]));
  const rules = buildFilterRules(parseFilterConfig(off));
  const stats = new DataStats("t");
  const out = filterDocument(doc(text), rules, stats, text.length);
  return out ? null : Object.keys(stats.removed)[0];
}

describe("good prose passes every rule at the published defaults", () => {
  it("keeps the reference document", () => {
    const rules = buildFilterRules(parseFilterConfig({}));
    const stats = new DataStats("t");
    expect(filterDocument(doc(GOOD), rules, stats, GOOD.length)).not.toBeNull();
    expect(stats.removed).toEqual({});
  });
});

describe("Gopher quality", () => {
  it("min words", () => expect(verdict("gopher_quality", "Too short a document.")).toBe("gopher_quality.min_words"));
  it("mean word length", () => expect(verdict("gopher_quality", Array(60).fill("a b to of the and be").join(" "))).toBe("gopher_quality.mean_word_length"));
  it("symbol to word ratio", () => expect(verdict("gopher_quality", `${GOOD} ${"#tag ".repeat(20)}`)).toBe("gopher_quality.symbol_word_ratio"));
  it("bullet lines", () =>
    expect(verdict("gopher_quality", Array(12).fill("- the item with a fairly ordinary description of things and more").join("\n"))).toBe("gopher_quality.bullet_lines"));
  it("ellipsis lines", () => expect(verdict("gopher_quality", Array(12).fill("and then the story went on with the next part of the tale...").join("\n"))).toBe("gopher_quality.ellipsis_lines"));
  it("alphabetic words", () => expect(verdict("gopher_quality", `the and ${Array(80).fill("1234 5678").join(" ")} with that`)).toBe("gopher_quality.alpha_words"));
  it("stop words", () => expect(verdict("gopher_quality", Array(20).fill("quick brown foxes jump over lazy dogs").join(" "))).toBe("gopher_quality.stop_words"));
  it("thresholds are configurable", () => expect(verdict("gopher_quality", "The problem is that the answer cannot be found there.", { minWords: 5 })).toBeNull());
  it("keeps good prose", () => expect(verdict("gopher_quality", GOOD)).toBeNull());
});

describe("Gopher repetition", () => {
  const para = "This paragraph says something about the weather today and tomorrow in the town.";
  it("duplicate paragraphs", () => expect(verdict("gopher_repetition", Array(5).fill(para).join("\n\n"))).toBe("gopher_repetition.dup_para_frac"));
  it("duplicate lines", () => expect(verdict("gopher_repetition", `${GOOD}\n${Array(5).fill("Click here to subscribe to our newsletter today").join("\n")}`)).toBe("gopher_repetition.dup_line_frac"));
  it("top 2-gram", () => expect(verdict("gopher_repetition", `${"buy now ".repeat(40)} ${GOOD.replace(/\n/g, " ")}`)).toBe("gopher_repetition.top_2_gram"));
  it("duplicated n-grams", () => {
    const words = GOOD.replace(/\n/g, " ").split(" ");
    const rep = words.slice(0, 30).join(" ");
    expect(verdict("gopher_repetition", `${rep} ${words.slice(30).join(" ")} ${rep}`)).toMatch(/^gopher_repetition\.duplicated_\d+_n_grams$/);
  });
  it("keeps good prose", () => expect(verdict("gopher_repetition", GOOD)).toBeNull());
});

describe("C4", () => {
  it("lorem ipsum", () => expect(verdict("c4", `${GOOD}\nLorem ipsum dolor sit amet.`)).toBe("c4.lorem_ipsum"));
  // datatrove checks "{" only on lines that survive the line rules, in order: a code line ending in "}" is dropped first
  it("curly bracket in a kept line", () => expect(verdict("c4", `${GOOD}\nThe set {a, b} has two members, as the text says.`)).toBe("c4.curly_bracket"));
  it("curly bracket in a dropped line", () => expect(verdict("c4", `${GOOD}\nfunction f() { return 1; }`)).toBeNull());
  it("too few sentences once bad lines are dropped", () => expect(verdict("c4", "Home\nAbout us\nContact\nOne real sentence is here.")).toBe("c4.too_few_sentences"));
  it("drops lines without terminal punctuation, short lines, javascript and policy lines", () => {
    const rules = buildFilterRules(parseFilterConfig({ language: { enabled: false }, gopher_quality: { enabled: false }, gopher_repetition: { enabled: false }, fineweb: { enabled: false }, toxicity: { enabled: false } }));
    const text = `${GOOD}\nMenu\nPlease enable JavaScript to view this page properly.\nRead our privacy policy for details.\nA line with no final punctuation mark at all`;
    const stats = new DataStats("t");
    const out = filterDocument(doc(text), rules, stats, text.length);
    expect(out?.text).toBe(GOOD);
    expect(stats.modified["c4.lines_dropped"].count).toBe(4);
  });
  it("keeps good prose unchanged", () => expect(verdict("c4", GOOD)).toBeNull());
});

describe("FineWeb", () => {
  it("line punctuation ratio", () => expect(verdict("fineweb", Array(10).fill("a line that never ends with any punctuation at all here").join("\n"))).toBe("fineweb.line_punct_ratio"));
  it("short line ratio", () => expect(verdict("fineweb", Array(10).fill("Short line.").join("\n").replace(/Short line\./g, (m, i) => `${m} ${i}.`))).toBe("fineweb.short_line_ratio"));
  it("duplicate line characters", () => expect(verdict("fineweb", `${GOOD}\n${GOOD.split("\n")[0]}`)).toBe("fineweb.char_dup_ratio"));
  it("newline ratio (lists)", () =>
    expect(verdict("fineweb", Array.from({ length: 20 }, (_, i) => `This is list item number ${i} of many.`).join("\n"), { newLineRatio: 0.1 })).toBe("fineweb.list_ratio"));
  it("keeps good prose", () => expect(verdict("fineweb", GOOD)).toBeNull());
});

describe("language identification", () => {
  it("tells English from other languages", () => {
    expect(identifyLanguage(GOOD).lang).toBe("eng");
    expect(identifyLanguage("Le conseil municipal s'est réuni jeudi pour discuter du nouveau budget des écoles de la ville.").lang).toBe("fra");
    expect(identifyLanguage("Der Stadtrat traf sich am Donnerstag, um über den neuen Haushalt der Schulen zu sprechen.").lang).toBe("deu");
    expect(identifyLanguage("El consejo se reunió el jueves para hablar del nuevo presupuesto de las escuelas de la ciudad.").lang).toBe("spa");
    expect(identifyLanguage("Городской совет собрался в четверг, чтобы обсудить новый бюджет школ.").lang).toBe("other-script");
    expect(identifyLanguage("ok").lang).toBe("und");
  });
  it("removes non-English documents and records the language", () => {
    expect(verdict("language", "Der Stadtrat traf sich am Donnerstag, um über den neuen Haushalt der Schulen zu sprechen, und alle waren zufrieden.")).toBe("language.not_eng");
    const rules = buildFilterRules(parseFilterConfig({ gopher_quality: { enabled: false }, gopher_repetition: { enabled: false }, c4: { enabled: false }, fineweb: { enabled: false }, toxicity: { enabled: false } }));
    const out = filterDocument(doc(GOOD), rules, new DataStats("t"), 1);
    expect(out?.meta.lang).toBe("eng");
  });
});

describe("toxicity", () => {
  it("whole-word matching with a threshold", () => {
    expect(verdict("toxicity", `${GOOD} What a load of bullshit and crap.`)).toBe("toxicity.score");
    // substrings of listed words do not count (Scunthorpe problem): "class", "assess", "cocktail", "shitake"
    expect(verdict("toxicity", `${GOOD} The class will assess the cocktail menu.`)).toBeNull();
    // one match in a long document stays under the default threshold
    expect(verdict("toxicity", `${GOOD} ${GOOD} It was crap.`.replace(/\n/g, " "))).toBeNull();
  });
  it("multi-word phrases and an overriding word file", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tox-"));
    const f = join(dir, "words.txt");
    writeFileSync(f, "# custom list\nbudget hearing\nzebra\n");
    expect(verdict("toxicity", "The budget hearing was long.", { wordsFile: f })).toBe("toxicity.score");
    expect(verdict("toxicity", "Total bullshit here.", { wordsFile: f })).toBeNull();
    expect(verdict("toxicity", "A zebra here.", { extraWords: [], wordsFile: f })).toBe("toxicity.score");
  });
});

describe("cleaning", () => {
  const cfg = parseCleanConfig({});
  it("fixes mojibake", () => {
    expect(fixMojibake("cafÃ© and itâ€™s naÃ¯ve").text).toBe("café and it’s naïve");
    expect(fixMojibake("plain café stays").fixes).toBe(0);
  });
  it("strips markup but keeps comparison signs and placeholders", () => {
    expect(stripMarkup("<p>Hello <b>world</b> &amp; friends</p><script>x()</script>").text.trim()).toBe("Hello world & friends");
    expect(stripMarkup("if a < b and c > d mail <EMAIL>").text).toBe("if a < b and c > d mail <EMAIL>");
  });
  it("removes control characters but keeps newlines and tabs", () => {
    expect(removeControlChars("a\u0000b\u0007c\td\r\ne\u200bf\ufeff").text).toBe("abc\td\nef");
  });
  it("collapses whitespace", () => expect(collapseWhitespace("a   b\t\tc \n\n\n\n d ")).toBe("a b c\n\nd"));
  it("drops boilerplate lines and repeated lines/paragraphs", () => {
    const t = "Intro paragraph that matters a lot.\n\nThis site uses cookies.\nReal line of content here, long enough.\nReal line of content here, long enough.\n\nIntro paragraph that matters a lot.";
    const stats = new DataStats("clean");
    expect(cleanText(t, cfg, undefined, stats)).toBe("Intro paragraph that matters a lot.\n\nReal line of content here, long enough.");
    expect(Object.keys(stats.modified).sort()).toEqual(["boilerplate_lines", "repeated_lines", "repeated_paragraphs"]);
  });
  it("normalises to NFC and leaves code alone", () => {
    expect(cleanText("cafe\u0301", cfg, undefined)).toBe("caf\u00e9");
    const code = "def f(x):\n    return  x  # two  spaces\n";
    expect(cleanText(code, cfg, "code")).toBe(code);
  });
});

describe("text view", () => {
  it("splits words without edge punctuation", () => expect(new TextView("Hello, world! (yes) -- ok").words).toEqual(["Hello", "world", "yes", "ok"]));
});

describe("quality classifier", () => {
  it("learns to separate two styles and reports held-out accuracy", () => {
    const rnd = (i: number) => (Math.sin(i * 12.9898) * 43758.5453) % 1;
    const pos = Array.from({ length: 60 }, (_, i) => `${GOOD.split("\n")[i % 6]} Report number ${i} was filed by the committee.`);
    const neg = Array.from({ length: 60 }, (_, i) => `BUY NOW!!! cheap pills ${Math.abs(rnd(i)).toFixed(3)} click here FREE money $$$ act fast offer ${i}`);
    const m = trainQualityClassifier(pos, neg, { bits: 14, seed: 3 });
    expect(m.metrics.heldOutDocs).toBe(24);
    expect(m.metrics.heldOutAccuracy).toBeGreaterThanOrEqual(0.95);
    const dir = mkdtempSync(join(tmpdir(), "llmforge-qc-"));
    saveQualityModel(join(dir, "m.json"), m);
    const back = loadQualityModel(join(dir, "m.json"));
    expect(qualityScore(back, GOOD)).toBeGreaterThan(0.5);
    expect(qualityScore(back, "FREE money click here BUY NOW cheap pills!!!")).toBeLessThan(0.5);
    const rules = buildFilterRules(parseFilterConfig({ language: { enabled: false }, gopher_quality: { enabled: false }, gopher_repetition: { enabled: false }, c4: { enabled: false }, fineweb: { enabled: false }, toxicity: { enabled: false }, quality_classifier: { model: join(dir, "m.json"), minScore: 0.5 } }));
    const stats = new DataStats("t");
    expect(filterDocument(doc("FREE money click here BUY NOW cheap pills!!!"), rules, stats, 1)).toBeNull();
    expect(Object.keys(stats.removed)).toEqual(["quality_classifier.low_score"]);
    expect(filterDocument(doc(GOOD), rules, stats, 1)?.meta.quality_score).toBeGreaterThan(0.5);
  });
});
