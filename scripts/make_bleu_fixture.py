#!/usr/bin/env python3
"""Writes test/eval/fixtures/bleu.json: BLEU cases (edge cases and seeded random ones) with the scores NLTK 3.8's
nltk.translate.bleu_score gives for them: corpus_bleu for every case, sentence_bleu where the corpus has one pair,
the UserWarnings method0 emits, and the exception class where NLTK raises (method6 without trigram matches).
test/eval/textMetrics.test.ts runs src/eval/metrics/textMetrics.ts on the same cases and expects the same numbers.

Run from the repository root:
    /usr/bin/python3 scripts/make_bleu_fixture.py        # Python 3.11 with nltk 3.8
"""

import json
import os
import random
import warnings

import nltk
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "eval", "fixtures", "bleu.json")
FIXTURE_VERSION = 1
SEED = 20261202

UNIFORM4 = (0.25, 0.25, 0.25, 0.25)
WEIGHTS = [UNIFORM4, (1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.1, 0.3, 0.5, 0.1), (0.2,) * 5, (1.0, 0.0, 0.0, 0.0), (0.4, 0.3, 0.2, 0.1)]
METHODS = [f"method{i}" for i in range(8)]

GUIDE_HYP1 = "It is a guide to action which ensures that the military always obeys the commands of the party".split()
GUIDE_HYP2 = "It is to insure the troops forever hearing the activity guidebook that party direct".split()
GUIDE_REF1 = "It is a guide to action that ensures that the military will forever heed Party commands".split()
GUIDE_REF2 = "It is the guiding principle which guarantees the military forces always being under the command of the Party".split()
GUIDE_REF3 = "It is the practical guide for the army always to heed the directions of the party".split()
HISTORY_HYP = "he read the book because he was interested in world history".split()
HISTORY_REF = "he was interested in world history because he read the book".split()


def run_case(name, list_of_references, hypotheses, weights=UNIFORM4, smoothing="method0", auto_reweigh=False):
    """One fixture row: NLTK's corpus_bleu (and sentence_bleu for a single pair) with the warnings it emitted."""
    fn = getattr(SmoothingFunction(), smoothing)
    row = {"name": name, "listOfReferences": list_of_references, "hypotheses": hypotheses, "weights": list(weights), "smoothing": smoothing, "autoReweigh": auto_reweigh}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            row["corpus"] = float(corpus_bleu(list_of_references, hypotheses, tuple(weights), fn, auto_reweigh))
        except Exception as e:  # NLTK's own assertion / index errors are part of its behaviour
            row["error"] = type(e).__name__
    row["warnings"] = [str(w.message) for w in caught]
    if len(hypotheses) == 1 and "error" not in row:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row["sentence"] = float(sentence_bleu(list_of_references[0], hypotheses[0], tuple(weights), fn, auto_reweigh))
    return row


def edge_cases():
    cases = []
    for m in METHODS:
        cases.append(run_case(f"nltk doc hyp1 {m}", [[GUIDE_REF1, GUIDE_REF2, GUIDE_REF3]], [GUIDE_HYP1], smoothing=m))
        cases.append(run_case(f"nltk doc hyp2 (no 3/4-gram match) {m}", [[GUIDE_REF1, GUIDE_REF2, GUIDE_REF3]], [GUIDE_HYP2], smoothing=m))
        cases.append(run_case(f"nltk doc one ref {m}", [[GUIDE_REF1]], [GUIDE_HYP1], smoothing=m))
        cases.append(run_case(f"nltk doc corpus {m}", [[GUIDE_REF1, GUIDE_REF2, GUIDE_REF3], [HISTORY_REF]], [GUIDE_HYP1, HISTORY_HYP], smoothing=m))
    cases.append(run_case("nltk doc corpus custom weights", [[GUIDE_REF1, GUIDE_REF2, GUIDE_REF3], [HISTORY_REF]], [GUIDE_HYP1, HISTORY_HYP], weights=(0.1, 0.3, 0.5, 0.1)))
    cases.append(run_case("nltk doc BLEU-5", [[GUIDE_REF1, GUIDE_REF2, GUIDE_REF3]], [GUIDE_HYP1], weights=(0.2,) * 5))
    ref = "the cat is on the mat".split()
    for m in ["method0", "method1", "method3", "method4", "method5", "method7"]:
        cases.append(run_case(f"empty hypothesis {m}", [[ref]], [[]], smoothing=m))
        cases.append(run_case(f"hypothesis of 1 token {m}", [[ref]], [["cat"]], smoothing=m))
        cases.append(run_case(f"hypothesis of 2 tokens {m}", [[ref]], [["the", "cat"]], smoothing=m))
        cases.append(run_case(f"hypothesis of 3 tokens auto_reweigh {m}", [[ref]], [["the", "cat", "is"]], smoothing=m, auto_reweigh=True))
        cases.append(run_case(f"hypothesis of 2 tokens auto_reweigh {m}", [[ref]], [["on", "the"]], smoothing=m, auto_reweigh=True))
        cases.append(run_case(f"hypothesis of 1 token auto_reweigh {m}", [[ref]], [["mat"]], smoothing=m, auto_reweigh=True))
        cases.append(run_case(f"zero matches {m}", [[ref]], [["a", "dog", "barks", "loudly", "today"]], smoothing=m))
    for m in METHODS:
        cases.append(run_case(f"perfect match {m}", [[ref]], [list(ref)], smoothing=m))
    cases.append(run_case("auto_reweigh ignored for custom weights", [[ref]], [["the", "cat"]], weights=(0.5, 0.5), auto_reweigh=True))
    cases.append(run_case("auto_reweigh with 4+ tokens", [[ref]], [["the", "cat", "is", "on", "a"]], auto_reweigh=True))
    cases.append(run_case("the the the clipping", [[ref, "there is a cat on the mat".split()]], [["the"] * 7], weights=(1.0,)))
    cases.append(run_case("closest ref length tie takes shorter", [[["a"] * 13, ["a"] * 11]], [["a"] * 12], weights=(1.0,)))
    cases.append(run_case("closest ref length mteval", [[["a"] * 11, ["a"] * 8]], [["a"] * 7], weights=(1.0,)))
    cases.append(run_case("hypothesis longer than refs", [[["a", "b"]]], [["a", "b", "a", "b", "a"]], weights=(0.5, 0.5)))
    cases.append(run_case("empty reference", [[[]]], [["a", "b"]], weights=(0.5, 0.5)))
    cases.append(run_case("empty corpus member", [[ref], [ref]], [[], list(ref)]))
    cases.append(run_case("method6 bigram-only weights raises", [[ref]], [list(ref)], weights=(0.5, 0.5), smoothing="method6"))
    cases.append(run_case("method5 uses 5-grams with 2 weights", [[ref]], [list(ref)], weights=(0.5, 0.5), smoothing="method5"))
    cases.append(run_case("method5 short corpus last pair", [["the cat sat on the mat today".split()], [ref]], ["the cat sat on the mat".split(), "the cat".split()], smoothing="method5"))
    cases.append(run_case("method6 corpus last pair", [["the cat sat on the mat today".split()], [ref]], ["the cat sat on the mat".split(), "on the mat".split()], smoothing="method6"))
    return cases


def random_cases(rng, count):
    vocab = [f"w{i}" for i in range(8)]
    cases = []
    for k in range(count):
        pairs = rng.choice([1, 1, 1, 2, 3])
        refs_list, hyps = [], []
        for _ in range(pairs):
            base = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
            refs = []
            for _ in range(rng.randint(1, 3)):
                r = [t if rng.random() < 0.7 else rng.choice(vocab) for t in base]
                if rng.random() < 0.3:
                    r = r[: rng.randint(0, len(r))]
                if rng.random() < 0.3:
                    r = r + [rng.choice(vocab) for _ in range(rng.randint(1, 4))]
                refs.append(r)
            hyp = [t if rng.random() < 0.75 else rng.choice(vocab) for t in base]
            if rng.random() < 0.25:
                hyp = hyp[: rng.randint(0, len(hyp))]
            refs_list.append(refs)
            hyps.append(hyp)
        weights = WEIGHTS[k % len(WEIGHTS)] if rng.random() < 0.5 else UNIFORM4
        smoothing = METHODS[k % len(METHODS)]
        cases.append(run_case(f"random {k}", refs_list, hyps, weights=weights, smoothing=smoothing, auto_reweigh=rng.random() < 0.3))
    return cases


def main():
    rng = random.Random(SEED)
    cases = edge_cases() + random_cases(rng, 110)
    doc = {
        "format": "llmforge bleu fixture",
        "version": FIXTURE_VERSION,
        "writtenBy": "scripts/make_bleu_fixture.py",
        "definition": f"nltk {nltk.__version__} nltk.translate.bleu_score corpus_bleu / sentence_bleu, SmoothingFunction() defaults",
        "seed": SEED,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"wrote {OUT}: {len(cases)} cases ({errors} where NLTK raises)")


if __name__ == "__main__":
    main()
