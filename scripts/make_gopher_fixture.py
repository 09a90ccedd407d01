#!/usr/bin/env python3
"""Writes test/data/fixtures/gopherRules.json: documents at and around every threshold of the two Gopher rules,
and a sample of the embedded corpus, with the decision datatrove a649de79 makes on each (keep, or its reason).

This is our own Python port of datatrove a649de79's GopherQualityFilter and GopherRepetitionFilter (Rae et al.
2021, "Scaling Language Models", appendix A), written from their definition, with spaCy's English tokenizer as
datatrove's split_into_words(text, "en") uses it: spacy.blank("en") tokens, each str.strip()ped, empty ones dropped.
test/data/gopherRules.test.ts runs our TypeScript rules on the same documents and expects the same decisions.

Run from the repository root, after `npm install` (node dumps the embedded corpus so both sides read the same text):
    /work/pyref/bin/python scripts/make_gopher_fixture.py        # any Python 3.11 with spaCy 3.8
Optional: --check-punctuation path/to/datatrove/utils/text.py   compares our punctuation table with datatrove's.
"""

import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import spacy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "data", "fixtures", "gopherRules.json")
FIXTURE_VERSION = 1

# datatrove's PUNCTUATION_SET (utils/text.py) as code point ranges: ASCII punctuation, the C0 controls but tab and
# line feed, DEL and the C1 controls, a few typographic and CJK marks (and U+FF11, fullwidth digit one, which its
# list holds), and its terminal punctuation of many scripts. The TypeScript rule holds the same table.
PUNCT_RANGES = """
0x0-0x8 0xb-0x1f 0x21-0x2f 0x3a-0x40 0x5b-0x60 0x7b-0x9f 0xab 0xb4 0xbb 0x589 0x61d-0x61f 0x6d4 0x700-0x702 0x7f9
0x837 0x839 0x83d-0x83e 0x964-0x965 0x104a-0x104b 0x1362 0x1367-0x1368 0x166e 0x1735-0x1736 0x17d4-0x17d6
0x17d9-0x17da 0x1803 0x1809 0x1944-0x1945 0x1aa8-0x1aab 0x1b5a-0x1b5b 0x1b5e-0x1b5f 0x1b7d-0x1b7e 0x1c3b-0x1c3c
0x1c7e-0x1c7f 0x2013-0x2014 0x2019 0x201c-0x201e 0x2026 0x203c-0x203d 0x2047-0x2049 0x2236 0x2501 0x25ba 0x2e2e
0x2e3c 0x2e53-0x2e54 0x3001-0x3002 0x3008-0x300d 0x3010-0x3011 0xa4ff 0xa60e-0xa60f 0xa6f3 0xa6f7 0xa876-0xa877
0xa8ce-0xa8cf 0xa92f 0xa9c8-0xa9c9 0xaa5d-0xaa5f 0xaaf0-0xaaf1 0xabeb 0xfe52 0xfe56-0xfe57 0xff01 0xff05
0xff08-0xff09 0xff0c 0xff0e 0xff11 0xff1a-0xff1b 0xff1f 0xff5e 0xff61 0x10a56-0x10a57 0x10f55-0x10f59
0x10f86-0x10f89 0x11047-0x11048 0x110be-0x110c1 0x11141-0x11143 0x111c5-0x111c6 0x111cd 0x111de-0x111df
0x11238-0x11239 0x1123b-0x1123c 0x112a9 0x1144b-0x1144c 0x115c2-0x115c3 0x115c9-0x115d7 0x11641-0x11642
0x1173c-0x1173e 0x11944 0x11946 0x11a42-0x11a43 0x11a9b-0x11a9c 0x11c41-0x11c42 0x11ef7-0x11ef8 0x11f43-0x11f44
0x16a6e-0x16a6f 0x16af5 0x16b37-0x16b38 0x16b44 0x16e98 0x1bc9f 0x1da88
"""


def parse_ranges(spec):
    out = set()
    for item in spec.split():
        a, _, b = item.partition("-")
        out.update(chr(c) for c in range(int(a, 16), int(b or a, 16) + 1))
    return out


PUNCT = parse_ranges(PUNCT_RANGES)

_nlp = spacy.blank("en")
_nlp.add_pipe("sentencizer")


@functools.lru_cache(maxsize=4)
def english_words(text):
    """datatrove's split_into_words(text, "en"): spaCy token texts, stripped, empty ones dropped."""
    _nlp.max_length = len(text) + 10
    out = []
    for tok in _nlp(text):
        w = tok.text.strip()
        if w:
            out.append(w)
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# The quality rule. Options carry the TypeScript option names; a falsy threshold (None or 0) switches its check
# off, as datatrove's `if threshold and ...` does. ZeroDivisionError is what datatrove raises on the few inputs
# where a denominator is 0 (no words or no lines with the word-count check off, or an empty text).

QUALITY_DEFAULTS = dict(
    minWords=50, maxWords=100000, minMeanWordLength=3, maxMeanWordLength=10, maxSymbolWordRatio=0.1,
    maxBulletLinesRatio=0.9, maxEllipsisLinesRatio=0.3, minAlphaWordsRatio=0.8, minStopWords=2,
    stopWords=["the", "be", "to", "of", "and", "that", "have", "with"],
)


def gopher_quality(text, opts=None):
    o = dict(QUALITY_DEFAULTS, **(opts or {}))
    words = english_words(text)
    n_words = len(words)
    # "words" for the count and the mean length: tokens with a character outside the punctuation table
    counted = [w for w in words if any(ch not in PUNCT for ch in w)]
    if o["minWords"] and len(counted) < o["minWords"]:
        return "gopher_short_doc"
    if o["maxWords"] and len(counted) > o["maxWords"]:
        return "gopher_long_doc"
    # numpy's mean of nothing is nan, which no comparison holds for
    mean = sum(len(w) for w in counted) / len(counted) if counted else float("nan")
    if o["minMeanWordLength"] and mean < o["minMeanWordLength"]:
        return "gopher_below_avg_threshold"
    if o["maxMeanWordLength"] and mean > o["maxMeanWordLength"]:
        return "gopher_above_avg_threshold"
    # the hash and the ellipsis each over all tokens
    if o["maxSymbolWordRatio"] and text.count("#") / n_words > o["maxSymbolWordRatio"]:
        return "gopher_too_many_hashes"
    if o["maxSymbolWordRatio"] and (text.count("...") + text.count("\u2026")) / n_words > o["maxSymbolWordRatio"]:
        return "gopher_too_many_ellipsis"
    lines = text.splitlines()  # blank lines included
    if o["maxBulletLinesRatio"]:
        bullets = sum(1 for s in lines if s.lstrip().startswith("\u2022") or s.lstrip().startswith("-"))
        if bullets / len(lines) > o["maxBulletLinesRatio"]:
            return "gopher_too_many_bullets"
    if o["maxEllipsisLinesRatio"]:
        ends = sum(1 for s in lines if s.rstrip().endswith("...") or s.rstrip().endswith("\u2026"))
        if ends / len(lines) > o["maxEllipsisLinesRatio"]:
            return "gopher_too_many_end_ellipsis"
    if o["minAlphaWordsRatio"]:
        alpha = sum(1 for w in words if any(c.isalpha() for c in w))
        if alpha / n_words < o["minAlphaWordsRatio"]:
            return "gopher_below_alpha_threshold"
    # distinct stop words present, compared as exact strings
    if o["minStopWords"] and len(set(o["stopWords"]) & set(words)) < o["minStopWords"]:
        return "gopher_enough_stop_words"
    return "keep"


# ---------------------------------------------------------------------------------------------------------------
# The repetition rule.

REPETITION_DEFAULTS = dict(
    maxDupLineFrac=0.3, maxDupParaFrac=0.3, maxDupLineCharFrac=0.2, maxDupParaCharFrac=0.2,
    topNGrams=[[2, 0.2], [3, 0.18], [4, 0.16]],
    dupNGrams=[[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.1]],
)


def repeated(items):
    """(how many items equal an earlier one, their characters)."""
    seen = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def top_ngram_chars(words, n):
    """Characters of the most frequent n-gram (words joined by a space) times its count; the n-gram seen first
    wins a tie, so with no repeat it is the first n-gram once."""
    counts = {}
    for i in range(len(words) - n + 1):
        g = " ".join(words[i : i + n])
        counts[g] = counts.get(g, 0) + 1
    best_gram, best = None, 0
    for g, c in counts.items():  # first seen order
        if c > best:
            best_gram, best = g, c
    return len(best_gram) * best


def duplicated_ngram_chars(words, n):
    """Left to right over n-grams keyed by their words joined with nothing between: a key seen before adds its
    characters and jumps n words; otherwise the key is remembered and the scan moves one word."""
    seen = set()
    total = i = 0
    while i < len(words) - n + 1:
        g = "".join(words[i : i + n])
        if g in seen:
            total += len(g)
            i += n
        else:
            seen.add(g)
            i += 1
    return total


def gopher_repetition(text, opts=None):
    o = dict(REPETITION_DEFAULTS, **(opts or {}))
    paragraphs = re.split(r"\n{2,}", text.strip())
    dups, chars = repeated(paragraphs)
    if o["maxDupParaFrac"] and dups / len(paragraphs) > o["maxDupParaFrac"]:
        return "dup_para_frac"
    if o["maxDupParaCharFrac"] and chars / len(text) > o["maxDupParaCharFrac"]:
        return "dup_para_char_frac"
    lines = re.split(r"\n+", text)
    dups, chars = repeated(lines)
    if o["maxDupLineFrac"] and dups / len(lines) > o["maxDupLineFrac"]:
        return "dup_line_frac"
    if o["maxDupLineCharFrac"] and chars / len(text) > o["maxDupLineCharFrac"]:
        return "dup_line_char_frac"
    words = english_words(text)
    for n, frac in o["topNGrams"]:
        if len(words) < n:
            continue
        if top_ngram_chars(words, n) / len(text) > frac:
            return f"top_{n}_gram"
    for n, frac in o["dupNGrams"]:
        if duplicated_ngram_chars(words, n) / len(text) > frac:
            return f"duplicated_{n}_n_grams"
    return "keep"


def decide(rule, text, opts):
    try:
        return (gopher_quality if rule == "quality" else gopher_repetition)(text, opts)
    except ZeroDivisionError:
        return "error:ZeroDivisionError"


# ---------------------------------------------------------------------------------------------------------------
# Documents. A case holds its text, or a recipe `parts` ([[piece, times], ...], joined) for long ones, and `want`:
# the decision it was built to get, checked here so that every pair really sits on both sides of its threshold.

SYLLABLES = "ka lo mi ren tor vis pa dun sel gri mo tas bel nor fi quen dra lu pes hol".split()


def prose(n, seed=0, stops=("the", "and")):
    """n words: the given stop words, then made-up letter-only words (seeded), so no n-gram repeats by chance."""
    rnd = random.Random(seed)
    out = list(stops)
    while len(out) < n:
        out.append("".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 3))))
    return out[:n]


def text_of(case, pieces=()):
    """A case's text: its `text`, or its recipe joined (a piece given as a number is that entry of `pieces`)."""
    if "text" in case:
        return case["text"]
    return "".join((pieces[p] if isinstance(p, int) else p) * times for p, times in case["parts"])


def share_pieces(cases):
    """Moves recipe pieces of over 200 characters to a shared list (the cases just under, at and just over a
    threshold share their body), leaving their index in the recipe."""
    pieces, index = [], {}
    for c in cases:
        for part in c.get("parts", []):
            if len(part[0]) > 200:
                if part[0] not in index:
                    index[part[0]] = len(pieces)
                    pieces.append(part[0])
                part[0] = index[part[0]]
    return pieces


def pad_to(text, total, sep=" "):
    """A recipe: `text` and one word of z's long enough that the whole has `total` characters."""
    short = total - len(text) - len(sep)
    assert short >= 1, (total, len(text))
    return [[text + sep, 1], ["z", short]]


def quality_cases():
    cases = []

    def add(name, want, text=None, parts=None, opts=None):
        c = {"name": name, "rule": "quality", "want": want}
        if text is not None:
            c["text"] = text
        else:
            c["parts"] = parts
        if opts:
            c["opts"] = opts
        cases.append(c)

    words = lambda n, **kw: " ".join(prose(n, **kw))  # noqa: E731
    # word counts: non-symbol words 49 / 50 / 51; punctuation tokens do not count
    add("49 words", "gopher_short_doc", words(49) + "\n")
    add("50 words", "keep", words(50) + "\n")
    add("51 words", "keep", words(51))
    add("49 words and 5 punctuation tokens", "gopher_short_doc", words(49) + " . , ; ! ?")
    add("49 words and fullwidth digit one (in datatrove's punctuation list)", "gopher_short_doc", words(49) + " \uff11")
    add("49 words and a degree sign (not in that list)", "keep", words(49) + " \u00b0")
    add("100000 words", "keep", parts=[["the river and garden ", 25000]])
    add("100001 words", "gopher_long_doc", parts=[["the river and garden ", 25000], ["stone", 1]])
    add("100000 words and 10 periods", "keep", parts=[["the river and garden ", 25000], [". ", 10]])

    # mean length of non-symbol words over 100 words: 2.99 / 3 / 3.01 and 9.99 / 10 / 10.01
    def sized(total, n=100):
        rest = total - 6  # "the" and "and"
        base, extra = divmod(rest, n - 2)
        out = ["the", "and"]
        for i in range(n - 2):
            length = base + (1 if i < extra else 0)
            out.append(("abcdefghijklmnopqrstuvwxyz" * 2)[i % 26 : i % 26 + length])
        return " ".join(out)

    for total, label, want in (
        (299, "2.99", "gopher_below_avg_threshold"), (300, "3.00", "keep"), (301, "3.01", "keep"),
        (999, "9.99", "keep"), (1000, "10.00", "keep"), (1001, "10.01", "gopher_above_avg_threshold"),
    ):
        add(f"mean word length {label}", want, sized(total))
    add("mean word length 3.00 and 20 punctuation tokens (2.5 if they counted)", "keep", sized(300) + " ." * 20)
    # the hash and the ellipsis each over all tokens (100 here): 10 keeps, 11 removes
    add("10 hashes in 100 tokens", "keep", words(90) + " #" * 10)
    add("11 hashes in 100 tokens", "gopher_too_many_hashes", words(89) + " #" * 11)
    add("10 hashes in 100 tokens, 10 more are periods (0.125 over words alone)", "keep", words(80) + " ." * 10 + " #" * 10)
    add("10 ellipses in 100 tokens", "keep", "... " * 10 + words(90))
    add("11 ellipses in 100 tokens", "gopher_too_many_ellipsis", "... " * 6 + "\u2026 " * 5 + words(89))
    add("6 hashes and 6 ellipses in 100 tokens (each under 0.1)", "keep", "... " * 6 + words(88) + " #" * 6)
    add("five six-dot runs count ten ellipses", "keep", "...... " * 5 + words(90) + " ." * 5)
    add("six six-dot runs count twelve ellipses", "gopher_too_many_ellipsis", "...... " * 6 + words(88) + " ." * 6)
    # bullet lines over splitlines() lines, blank lines included: 18 of 20 keeps, 19 of 20 removes
    line = "the river and the garden with a stone bridge"
    add("18 bullets of 20 lines (2 blank)", "keep", "\n".join(["- " + line] * 9 + [""] + ["\u2022 " + line] * 9 + ["", "x"]))
    add("19 bullets of 20 lines (1 blank)", "gopher_too_many_bullets", "\n".join(["- " + line] * 10 + [""] + ["  \u2022 " + line] * 9))
    add("17 bullets of 20 lines (2 blank)", "keep", "\n".join(["- " + line] * 17 + [line, "", ""]) + "x")
    add("lines starting with * \u25cf \u2013 \u00b7 (not bullets there)", "keep", "\n".join(["* " + line, "\u25cf " + line, "\u2013 " + line, "\u00b7 " + line] * 5))
    add("19 bullets of 20 lines, CRLF", "gopher_too_many_bullets", "\r\n".join(["- " + line] * 19 + [""]) + "\r\nend")
    add("form feed and U+2028 end lines (19 bullets of 20)", "gopher_too_many_bullets", line + "\x0c" + "\u2028".join(["- " + line] * 19))
    # ellipsis line ends: 3 of 10 lines keeps, 4 of 10 removes (2 blank lines in each)
    w12 = words(12, seed=5)
    add("3 ellipsis lines of 10 (2 blank)", "keep", "\n".join([w12 + "..."] * 2 + ["", w12 + "\u2026  ", ""] + [w12] * 5))
    add("4 ellipsis lines of 10 (2 blank)", "gopher_too_many_end_ellipsis", "\n".join([w12 + "..."] * 3 + ["", w12 + "\u2026\t", ""] + [w12] * 4))
    add("4 ellipsis lines of 13 (a final newline adds no line)", "gopher_too_many_end_ellipsis", "\n".join([w12 + "..."] * 4 + [w12] * 9) + "\n")
    add("4 ellipsis lines of 14 (a blank line at the end)", "keep", "\n".join([w12 + "..."] * 4 + [w12] * 9) + "\n\n")
    # tokens with a letter over all tokens: 80 of 100 keeps, 79 of 100 removes
    add("80 alphabetic of 100 tokens", "keep", words(80) + " 1234" * 10 + " ." * 10)
    add("79 alphabetic of 100 tokens", "gopher_below_alpha_threshold", words(79) + " 1234" * 11 + " ." * 10)
    add("80 alphabetic of 100 tokens (non-Latin letters, 3rd, 5th)", "keep", words(75) + " \u00e9t\u00e9 \u65e5\u672c \u0436\u0438\u0437\u043d\u044c 3rd 5th" + " 1234" * 10 + " ." * 10)
    # distinct stop words
    add('"the" six times, no other stop word', "gopher_enough_stop_words", words(60, stops=("the",) * 6))
    add('"the" and "and"', "keep", words(60))
    add('"The" and "and" (case matters)', "gopher_enough_stop_words", words(60, stops=("The", "and")))
    add('"that" and "have"', "keep", words(60, stops=("that", "have")))
    # switched-off checks (None, or 0 as datatrove's `if threshold and` reads it) and empty texts
    add("short, word count off", "keep", words(10), opts={"minWords": None})
    add("hash-heavy, symbol ratio 0 (off)", "keep", words(70) + " #" * 10, opts={"maxSymbolWordRatio": 0})
    add("bullets, bullet check off", "keep", "\n".join(["- " + line] * 20), opts={"maxBulletLinesRatio": None})
    add("no stop words, check off", "keep", words(60, stops=()), opts={"minStopWords": None})
    add("custom stop words, one needed", "keep", words(60, stops=("river",)), opts={"stopWords": ["river", "garden"], "minStopWords": 1})
    add("custom stop words, none there", "gopher_enough_stop_words", words(60), opts={"stopWords": ["river", "garden"], "minStopWords": 1})
    add("empty text", "gopher_short_doc", "")
    add("whitespace only", "gopher_short_doc", " \n\t ")
    add("empty text, word count off", "error:ZeroDivisionError", "", opts={"minWords": None})
    add("only punctuation, word count off", "gopher_below_alpha_threshold", ". , ; . ! ?", opts={"minWords": None})
    add("only punctuation, word count and alpha off", "gopher_enough_stop_words", ". , ; . ! ?", opts={"minWords": None, "minAlphaWordsRatio": None})
    return cases


def repetition_cases():
    cases = []

    def add(name, want, text, opts=None):
        c = {"name": name, "rule": "repetition", "want": want}
        c["parts" if isinstance(text, list) else "text"] = text
        if opts:
            c["opts"] = opts
        cases.append(c)

    para = lambda seed, n=30: " ".join(prose(n, seed=seed, stops=()))  # noqa: E731
    long_x = "abcdefghij" * 20  # one 200-letter token

    # repeated paragraphs: 10 paragraphs, 3 repeats keep, 4 remove (a short paragraph said again)
    uniques = [para(s) for s in range(100, 110)]
    add("3 repeated paragraphs of 10", "keep", "\n\n".join(uniques[:6] + ["Thanks."] * 4))
    add("4 repeated paragraphs of 10", "dup_para_frac", "\n\n".join(uniques[:5] + ["Thanks."] * 5))
    add("3 repeated paragraphs of 10 (outer newlines stripped; the lines still see them)", "dup_line_frac", "\n\n\n" + "\n\n".join(uniques[:6] + ["Thanks."] * 4) + "\n\n")
    add("\\r\\n\\r\\n does not end a paragraph", "dup_line_frac", "\r\n\r\n".join(uniques[:5] + ["Thanks."] * 5))
    # repeated paragraph characters: a 200-letter paragraph said again is 200 characters; 0.2 of 1000 keeps
    body = "\n\n".join([para(1, 20), long_x, para(2, 20), long_x, para(3, 30)])
    for total, label, want in ((1001, "0.1998", "keep"), (1000, "0.2", "keep"), (999, "0.2002", "dup_para_char_frac")):
        add(f"repeated paragraph chars {label}", want, pad_to(body, total))
    # repeated lines: split on runs of \n, not stripped
    lines10 = [para(s, 12) for s in range(200, 210)]
    add("3 repeated lines of 10 (a blank line between two)", "keep", "\n".join(lines10[:7] + ["Thanks.", "", "Thanks.", "Thanks."]))
    add("4 repeated lines of 10", "dup_line_frac", "\n".join(lines10[:5] + ["Thanks."] * 5))
    add("outer newlines give two empty lines (one repeat): 3 of 10", "keep", "\n" + "\n".join(lines10[:5] + ["Thanks."] * 3) + "\n")
    add("outer newlines give two empty lines (one repeat): 4 of 10", "dup_line_frac", "\n" + "\n".join(lines10[:4] + ["Thanks."] * 4) + "\n")
    add("a line with trailing white space is not a repeat", "keep", "\n".join(lines10[:4] + ["Goodbye", "Goodbye ", "Goodbye\t", "Goodbye\r"]))
    body = "\n".join([para(4, 20), long_x, para(5, 20), long_x, para(6, 30)])
    for total, label, want in ((1001, "0.1998", "keep"), (1000, "0.2", "keep"), (999, "0.2002", "dup_line_char_frac")):
        add(f"repeated line chars {label}", want, pad_to(body, total))

    # top n-grams: a phrase said k times among other words; figure = len(phrase) * k against frac * len(text)
    def top_case(n, frac, k, delta):
        phrase = " ".join("Qx" + "q" * (6 + j) for j in range(n))
        total = round(len(phrase) * k / frac) + delta
        filler = prose(2000, seed=11, stops=())
        parts = []
        for j in range(k):
            parts.append(phrase)
            parts.extend(filler[j * 6 : j * 6 + 6])
        text = " ".join(parts)
        i = k * 6
        while len(text) + 1 + len(filler[i]) < total - 12:
            text += " " + filler[i]
            i += 1
        return pad_to(text, total)

    for n, frac, k in ((2, 0.2, 10), (3, 0.18, 9), (4, 0.16, 8)):
        for delta, label, want in ((1, "just under", "keep"), (0, "at", "keep"), (-1, "just over", f"top_{n}_gram")):
            add(f"top {n}-gram {label} {frac}", want, top_case(n, frac, k, delta))
    add("one word (no 2-gram)", "keep", "Hello")
    add("two words: the one 2-gram, once, is the top", "top_2_gram", "Hello world")
    add("a short sentence", "top_2_gram", "Hello world, this is a test.")
    # a tie at count 2: "Alpha Beta" is seen first, "x y" reaches 2 first; the first seen is the top
    ab = "Alphaaaaaaaaaaaaaaa Betaaaaaaaaaaaaaa"
    tie = f"i o u e {ab} {para(3, 6)} x y {para(40, 6)} x y {para(90, 8)} {ab} {para(200, 5)}"
    add("top 2-gram tie goes to the first seen", "top_2_gram", tie)

    # duplicated n-grams: a phrase of n tokens (long ends, one-letter middle) said twice; figure = its letters
    def dup_case(n, frac, delta):
        num, den = {0.15: (3, 20), 0.14: (7, 50), 0.13: (13, 100), 0.12: (3, 25), 0.11: (11, 100), 0.1: (1, 10)}[frac]
        long_len = 80
        while (2 * long_len + n - 2) % num:
            long_len += 1
        phrase = ["L" + "l" * (long_len - 1)] + ["abcdefgh"[j] for j in range(n - 2)] + ["R" + "r" * (long_len - 1)]
        fig = sum(len(w) for w in phrase)
        total = fig * den // num + delta
        filler = prose(2000, seed=7, stops=())
        text = " ".join(filler[:20] + phrase + filler[20:40] + phrase)
        i = 40
        while len(text) + 1 + len(filler[i]) < total - 12:
            text += " " + filler[i]
            i += 1
        return pad_to(text, total)

    for n, frac in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.1)):
        for delta, label, want in ((1, "just under", "keep"), (0, "at", "keep"), (-1, "just over", f"duplicated_{n}_n_grams")):
            add(f"duplicated {n}-grams {label} {frac}", want, dup_case(n, frac, delta))

    # n-grams of the duplicate check are keyed by their words joined with nothing: "L ab c d R" repeats "L a bc d R"
    def joined_case(second):
        first = ["L" + "l" * 79, "ab", "c", "d", "R" + "r" * 79]
        filler = prose(2000, seed=9, stops=())
        text = " ".join(filler[:20] + first + filler[20:40] + second)
        i = 40
        while len(text) + 1 + len(filler[i]) < 1000 - 12:
            text += " " + filler[i]
            i += 1
        return pad_to(text, 1000)

    add("a 5-gram said again with other word breaks (joined without spaces)", "duplicated_5_n_grams", joined_case(["L" + "l" * 79, "a", "bc", "d", "R" + "r" * 79]))
    add("a 5-gram said again with one letter changed", "keep", joined_case(["L" + "l" * 79, "a", "bd", "d", "R" + "r" * 79]))
    add("empty text", "error:ZeroDivisionError", "")
    add("newlines only", "dup_line_frac", "\n\n\n")
    add("paragraph and line fractions off (None, 0)", "keep", "\n\n".join(uniques[:5] + ["Thanks."] * 5), {"maxDupParaFrac": None, "maxDupLineFrac": 0})
    add("no n-gram checks", "keep", "Hello world", {"topNGrams": [], "dupNGrams": []})
    add("n-gram checks in the order given (6 before 5)", "duplicated_6_n_grams", dup_case(6, 0.14, -1), {"topNGrams": [], "dupNGrams": [[6, 0.14], [5, 0.0]]})
    add("a top n-gram limit of 0 is on", "top_3_gram", para(7, 80), {"topNGrams": [[3, 0.0]], "dupNGrams": []})
    return cases


def corpus_documents():
    """The embedded corpus as llmforge's readers give it, and raw SpamAssassin messages (test/data/gopherCorpus.ts)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "docs.json")
        subprocess.run(["node", "--import", "tsx", "test/data/gopherCorpus.ts", out, str(EMAILS_PER_GROUP)], cwd=ROOT, check=True)
        with open(out) as f:
            return json.load(f)


EMAILS_PER_GROUP = 120


def check_punctuation(path):
    """Compares PUNCT with the PUNCTUATION_SET that datatrove's utils/text.py builds (its constants only)."""
    src = open(path).read()
    ns = {}
    exec("import re\n" + src[src.index("PUNCTUATION =") : src.index("PUNCTUATION_TRANS")], ns)
    theirs = ns["PUNCTUATION_SET"]
    if theirs != PUNCT:
        sys.exit(f"punctuation tables differ: only theirs {sorted(theirs - PUNCT)}, only ours {sorted(PUNCT - theirs)}")
    print(f"punctuation table equals datatrove's ({len(PUNCT)} characters)")


def main():
    if "--check-punctuation" in sys.argv:
        check_punctuation(sys.argv[sys.argv.index("--check-punctuation") + 1])
    cases = quality_cases() + repetition_cases()
    wrong = []
    for c in cases:
        text = text_of(c)
        c["expect"] = decide(c["rule"], text, c.get("opts"))
        c["words"] = len(english_words(text))
        if c.pop("want") != c["expect"]:
            wrong.append(f"{c['rule']} {c['name']!r}: {c['expect']}")
    if wrong:
        sys.exit("cases that missed the side of the threshold they were built for:\n" + "\n".join(wrong))
    docs = corpus_documents() if "--no-corpus" not in sys.argv else []
    # the corpus decisions as one character per document ("." keep, else the reason's letter in `reasons`)
    corpus = {"documents": len(docs), "emailsPerGroup": EMAILS_PER_GROUP}
    both = [(decide("quality", text, None), decide("repetition", text, None)) for _, text in docs]
    for r, rule in enumerate(("quality", "repetition")):
        decisions = [d[r] for d in both]
        reasons = sorted(set(decisions) - {"keep"})
        corpus[rule] = {"reasons": reasons, "decisions": "".join("." if d == "keep" else chr(97 + reasons.index(d)) for d in decisions)}
    fixture = {
        "format": "llmforge gopher rules fixture",
        "version": FIXTURE_VERSION,
        "writtenBy": "scripts/make_gopher_fixture.py",
        "definition": "datatrove a649de79 GopherQualityFilter / GopherRepetitionFilter, spaCy " + spacy.__version__ + " English tokens",
        "punctuation": [[int(a, 16), int(b or a, 16)] for a, _, b in (r.partition("-") for r in PUNCT_RANGES.split())],
        "pieces": share_pieces(cases),
        "cases": cases,
        "corpus": corpus,
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(f"{c['rule']:10} {c['expect']:30} {c['name']}")
    for rule in ("quality", "repetition"):
        got = corpus[rule]
        print(rule, {r: got["decisions"].count(chr(97 + k)) for k, r in enumerate(got["reasons"])}, "of", len(docs))


if __name__ == "__main__":
    main()
