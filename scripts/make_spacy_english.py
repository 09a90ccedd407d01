"""Generate src/data/words/spacyEnglishData.ts: the data tables of spaCy's English tokenizer and sentencizer.

datatrove a649de79 (the FineWeb/Gopher/C4 reference) splits English words and sentences with
spacy.blank("en") plus the rule-based "sentencizer". Our TypeScript port (src/data/words/spacyEnglish.ts)
writes the algorithm by hand; this script derives every table it reads from the installed spaCy and from
Python's own Unicode database, so nothing is copied by hand:

  - tokenizer exceptions (special cases) as their ORTH pieces,
  - the special cases that spaCy also matches over tokens after affix splitting (its PhraseMatcher pass),
    with the token sequence each is matched as,
  - the prefix / suffix / infix rules, parsed from spaCy's regular expressions into a small structured
    form (look-behind classes, body, look-ahead class) whose character classes are enumerated code point
    by code point with Python's `re`,
  - the URL pattern (url_match) translated to a JavaScript regular expression (\\w, \\d, \\S expanded to
    Python 3.11's Unicode sets),
  - the sentencizer's punctuation characters and Unicode general category P (token.is_punct),
  - Python 3.11's str.isalpha() and str.isspace() sets (for src/data/words/pyString.ts).

Run: /work/pyref/bin/python scripts/make_spacy_english.py   (needs spaCy 3.8; writes the TS file)
"""

import json
import re
import sys
import unicodedata
from pathlib import Path

import spacy
from spacy.lang.en import English
from spacy.pipeline import Sentencizer
from spacy.symbols import ORTH
from spacy.lang.char_classes import ALPHA_LOWER
from spacy.tokenizer import Tokenizer

OUT = Path(__file__).resolve().parent.parent / "src/data/words/spacyEnglishData.ts"
MAXCP = 0x110000


def ranges_of(pred):
    """Sorted inclusive code point ranges [lo, hi, lo, hi, ...] where pred(cp) holds."""
    out = []
    lo = None
    for cp in range(MAXCP):
        ok = pred(cp)
        if ok and lo is None:
            lo = cp
        elif not ok and lo is not None:
            out += [lo, cp - 1]
            lo = None
    if lo is not None:
        out += [lo, MAXCP - 1]
    return out


def class_ranges(cls_src):
    """Code point ranges a Python character class `[...]` matches (enumerated with re)."""
    rx = re.compile(cls_src)
    return ranges_of(lambda cp: rx.fullmatch(chr(cp)) is not None)


# ---------------------------------------------------------------------------------------------------------
# Parser for the subset of regular expression syntax spaCy's affix rules use.
# A rule parses to {"behind": [class ids], "body": body, "ahead": {"neg": bool, "cls": id} | None} where body
# is {"lits": [alternatives]} or {"cls": id} or {"rep": char, "min": n} (a character repeated, greedy).

classes = []  # class source strings, by id
class_ids = {}


def class_id(src):
    if src not in class_ids:
        class_ids[src] = len(classes)
        classes.append(src)
    return class_ids[src]


def read_class(s, i):
    """s[i] == '['; returns (class source, index after ']')."""
    j = i + 1
    if j < len(s) and s[j] == "^":
        j += 1
    if j < len(s) and s[j] == "]":
        j += 1
    while s[j] != "]":
        j += 2 if s[j] == "\\" else 1
    return s[i : j + 1], j + 1


def read_atoms(s, i, stop):
    """Atoms until `stop` char (or end): list of ("lit", ch) | ("cls", src) | ("alt", [str]) | ("rep", ch, min)."""
    atoms = []
    while i < len(s) and s[i] != stop:
        c = s[i]
        if c == "[":
            src, i = read_class(s, i)
            atoms.append(("cls", src))
        elif c == "\\":
            atoms.append(("lit", s[i + 1]))
            i += 2
        elif s.startswith("(?:", i):
            j = s.index(")", i)
            alts = s[i + 3 : j].split("|")
            atoms.append(("alt", [re.sub(r"\\(.)", r"\1", a) for a in alts]))
            i = j + 1
        elif c == "+":
            prev = atoms.pop()
            assert prev[0] == "lit", s
            atoms.append(("rep", prev[1], 1))
            i += 1
        elif c in "()?*{}|^$":
            raise ValueError(f"unsupported regex syntax {c!r} at {i} in {s!r}")
        else:
            atoms.append(("lit", c))
            i += 1
    return atoms, i


def parse_rule(piece):
    i = 0
    behind = []
    if piece.startswith("(?<="):
        atoms, i = read_atoms(piece, 4, ")")
        i += 1
        for a in atoms:
            behind.append(class_id(a[1] if a[0] == "cls" else "[" + re.escape(a[1]) + "]"))
    # body: up to a look-ahead or the end
    end = len(piece)
    ahead = None
    m = re.search(r"\(\?([=!])(\[[^\]]*\])\)$", piece)
    if m:
        end = m.start()
        ahead = {"neg": m.group(1) == "!", "cls": class_id(m.group(2))}
    atoms, j = read_atoms(piece[:end], i, None)
    assert j == end, piece
    if len(atoms) == 1 and atoms[0][0] == "cls":
        body = {"cls": class_id(atoms[0][1])}
    elif len(atoms) == 1 and atoms[0][0] == "alt":
        body = {"lits": atoms[0][1]}
    elif all(a[0] == "lit" for a in atoms):
        body = {"lits": ["".join(a[1] for a in atoms)]}
    elif len(atoms) == 2 and atoms[0][0] == "lit" and atoms[1][0] == "rep" and atoms[0][1] == atoms[1][1]:
        body = {"rep": atoms[0][1], "min": 2}
    else:
        raise ValueError(f"unsupported rule {piece!r}")
    rule = {"behind": behind, "body": body, "ahead": ahead}
    check_rule(piece, rule)
    return rule


def check_rule(piece, rule):
    """Rebuild a regex from the parsed form and require it to equal spaCy's piece on probe strings."""
    def cls(k):
        return classes[k]
    parts = []
    if rule["behind"]:
        parts.append("(?<=" + "".join(cls(k) for k in rule["behind"]) + ")")
    b = rule["body"]
    if "cls" in b:
        parts.append(cls(b["cls"]))
    elif "lits" in b:
        parts.append("(?:" + "|".join(re.escape(x) for x in b["lits"]) + ")")
    else:
        parts.append(re.escape(b["rep"]) * b["min"] + "+")
    if rule["ahead"]:
        parts.append(("(?!" if rule["ahead"]["neg"] else "(?=") + cls(rule["ahead"]["cls"]) + ")")
    mine = re.compile("".join(parts))
    theirs = re.compile(piece)
    probes = ["a.b", "A.B", "5km", "3+4", "x--y", "°C.", "US$5", "a,b", "a/b", "1-2", "...", "a:b", "+1", "+a", "'s", "(x)", "„x“"]
    for p in probes:
        for k in range(len(p) + 1):
            m1 = mine.match(p, k)
            m2 = theirs.match(p, k)
            assert (m1 and m1.span()) == (m2 and m2.span()), (piece, p, k)


# ---------------------------------------------------------------------------------------------------------
# URL pattern -> a small JavaScript expression over a reduced alphabet. Python's url_match uses large Unicode
# classes (\\w, \\d, \\S, \\u00a1-\\uffff, ALPHA_LOWER); a JavaScript copy of them compiles slowly (V8 compiles
# each expression several times). Instead every non-ASCII code point is first replaced by a representative
# private-use character, U+E000 + five bits saying which of those sets hold it, and the pattern is rewritten
# from Python's own parse tree with each class as its ASCII members plus the representatives inside it (the
# script checks that every class is a function of the bits). Code point counts and class membership are
# unchanged, so the match is the same. ASCII stays itself.

from re import _constants as C
from re import _parser as sre_parse

REP_BASE = 0xE000


def url_alphabet(pattern, word_rs, digit_rs, space_rs):
    tree = sre_parse.parse(pattern)

    def fill(rs):
        a = bytearray(MAXCP)
        for k in range(0, len(rs), 2):
            a[rs[k] : rs[k + 1] + 1] = b"\x01" * (rs[k + 1] - rs[k] + 1)
        return a

    W, Dg, S = fill(word_rs), fill(digit_rs), fill(space_rs)
    cat = {
        C.CATEGORY_WORD: W,
        C.CATEGORY_DIGIT: Dg,
        C.CATEGORY_SPACE: S,
        C.CATEGORY_NOT_WORD: bytes(1 - x for x in W),
        C.CATEGORY_NOT_DIGIT: bytes(1 - x for x in Dg),
        C.CATEGORY_NOT_SPACE: bytes(1 - x for x in S),
    }

    def members(items):
        """Membership array of a class (list of (op, av) items)."""
        a = bytearray(MAXCP)
        neg = False
        for op, av in items:
            if op is C.NEGATE:
                neg = True
            elif op is C.LITERAL:
                a[av] = 1
            elif op is C.RANGE:
                a[av[0] : av[1] + 1] = b"\x01" * (av[1] - av[0] + 1)
            elif op is C.CATEGORY:
                src = cat[av]
                a = bytearray(x | y for x, y in zip(a, src))
            else:
                raise ValueError(f"unsupported class item {op}")
        if neg:
            a = bytearray(1 - x for x in a)
        return a

    # every class in the pattern (deduplicated by its parse)
    class_nodes = {}

    def collect(t):
        for op, av in t:
            if op is C.IN:
                class_nodes.setdefault(repr(av), av)
            elif op is C.CATEGORY:
                class_nodes.setdefault(repr([(C.CATEGORY, av)]), [(C.CATEGORY, av)])
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                collect(av[2])
            elif op is C.SUBPATTERN:
                collect(av[3])
            elif op is C.BRANCH:
                for br in av[1]:
                    collect(br)
            elif op in (C.ASSERT, C.ASSERT_NOT):
                collect(av[1])
            elif op is C.LITERAL:
                assert av < 128, "non-ASCII literal in the URL pattern"
            elif op is C.AT:
                pass
            else:
                raise ValueError(f"unsupported node {op}")

    collect(tree)
    keys = list(class_nodes)
    arrays = [members(class_nodes[k]) for k in keys]
    # Each non-ASCII code point is represented by its bits: 1 Python \\w, 2 Python \\d, 4 Python whitespace,
    # 8 in U+00A1..U+FFFF, 16 in spaCy's ALPHA_LOWER. Every class of the pattern must be a function of them.
    AL = members(sre_parse.parse("[" + ALPHA_LOWER + "]")[0][1])
    bits_of = bytearray(MAXCP)
    for cp in range(128, MAXCP):
        bits_of[cp] = W[cp] | Dg[cp] << 1 | S[cp] << 2 | (0xA1 <= cp <= 0xFFFF) << 3 | AL[cp] << 4
    seen_bits = sorted(set(bits_of[128:]))
    by_bits = []
    for arr in arrays:
        f = {}
        for cp in range(128, MAXCP):
            b = bits_of[cp]
            assert f.setdefault(b, arr[cp]) == arr[cp], "a URL class is not a function of the representative bits"
        by_bits.append(f)

    def js_char(c):
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122:
            return chr(c)
        return f"\\u{c:04x}"

    def js_class(items):
        j = keys.index(repr(items))
        arr = arrays[j]
        chars = [c for c in range(128) if arr[c]] + [REP_BASE + b for b in seen_bits if by_bits[j][b]]
        return "[" + "".join(js_char(c) for c in chars) + "]"

    def emit(t):
        out = []
        for op, av in t:
            if op is C.AT:
                out.append({C.AT_BEGINNING: "^", C.AT_END: "$", C.AT_BEGINNING_STRING: "^", C.AT_END_STRING: "$"}[av])
            elif op is C.LITERAL:
                out.append(js_char(av))
            elif op is C.IN:
                out.append(js_class(av))
            elif op is C.CATEGORY:
                out.append(js_class([(C.CATEGORY, av)]))
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                lo, hi, sub = av
                q = "{%d,}" % lo if hi is C.MAXREPEAT else "{%d,%d}" % (lo, hi)
                q = {"{0,}": "*", "{1,}": "+", "{0,1}": "?"}.get(q, q)
                out.append("(?:" + emit(sub) + ")" + q + ("?" if op is C.MIN_REPEAT else ""))
            elif op is C.SUBPATTERN:
                assert av[0] is None
                out.append("(?:" + emit(av[3]) + ")")
            elif op is C.BRANCH:
                out.append("(?:" + "|".join(emit(br) for br in av[1]) + ")")
            elif op in (C.ASSERT, C.ASSERT_NOT):
                assert av[0] == 1
                out.append(("(?=" if op is C.ASSERT else "(?!") + emit(av[1]) + ")")
        return "".join(out)

    return emit(tree), [ranges_of(lambda cp: cp < 128 or bits_of[cp] & (1 << k)) for k in range(5)]


def check_url(pattern, js, bit_ranges, probes):
    """The JavaScript form must agree with Python on probe strings (mapped the same way as the TS code does)."""
    import subprocess
    def rep(cp):
        return sum(1 << k for k in range(5) if any(bit_ranges[k][j] <= cp <= bit_ranges[k][j + 1] for j in range(0, len(bit_ranges[k]), 2)))
    rx = re.compile(pattern)
    mapped = ["".join(c if ord(c) < 128 else chr(REP_BASE + rep(ord(c))) for c in p) for p in probes]
    want = [rx.match(p) is not None for p in probes]
    code = "const re = new RegExp(%s); const xs = %s; console.log(JSON.stringify(xs.map((x) => re.test(x))));" % (json.dumps(js), json.dumps(mapped))
    got = json.loads(subprocess.run(["node", "-e", code], capture_output=True, text=True, check=True).stdout)
    bad = [p for p, w, g in zip(probes, want, got) if w != g]
    assert not bad, bad[:10]


def main():
    assert spacy.__version__.startswith("3.8"), spacy.__version__
    nlp = spacy.blank("en")
    tok = nlp.tokenizer
    D = English.Defaults
    assert tok.token_match is None and tok.faster_heuristics

    # special cases: key -> ORTH pieces
    specials = {k: [t[ORTH] for t in v] for k, v in sorted(tok.rules.items())}
    for k, v in specials.items():
        assert "".join(v) == k

    # the special cases spaCy also matches over tokens (Tokenizer.add_special_case): their token sequences
    # come from tokenizing the key without special cases (a tokenizer with the same rules and no exceptions)
    bare = Tokenizer(nlp.vocab, rules={}, prefix_search=tok.prefix_search, suffix_search=tok.suffix_search,
                     infix_finditer=tok.infix_finditer, token_match=tok.token_match, url_match=tok.url_match)
    matched = {}
    for k in specials:
        if tok.find_prefix(k) or tok.find_infix(k) or tok.find_suffix(k) or " " in k:
            pat = [t.text for t in bare(k)]
            assert "".join(pat) == k
            matched[k] = pat
    for k, pat in matched.items():
        assert all(not p.isspace() for p in pat) or pat == [" "], (k, pat)

    prefixes = [parse_rule(p) for p in D.prefixes if p.strip()]
    suffixes = [parse_rule(p) for p in D.suffixes if p.strip()]
    infixes = [parse_rule(p) for p in D.infixes if p.strip()]
    # the compiled expressions are exactly these alternatives (ours), so the parse covers them all
    assert tok.prefix_search.__self__.pattern == "|".join("^" + p for p in D.prefixes if p.strip())
    assert tok.suffix_search.__self__.pattern == "|".join(p + "$" for p in D.suffixes if p.strip())
    assert tok.infix_finditer.__self__.pattern == "|".join(p for p in D.infixes if p.strip())

    print(f"{len(classes)} character classes", file=sys.stderr)
    class_tables = [class_ranges(src) for src in classes]

    space_rs = ranges_of(lambda cp: chr(cp).isspace())
    word_rs = ranges_of(lambda cp: re.fullmatch(r"\w", chr(cp)) is not None)
    digit_rs = ranges_of(lambda cp: re.fullmatch(r"\d", chr(cp)) is not None)
    alpha_rs = ranges_of(lambda cp: chr(cp).isalpha())
    punct_rs = ranges_of(lambda cp: unicodedata.category(chr(cp)).startswith("P"))

    from spacy.lang.tokenizer_exceptions import URL_PATTERN
    assert tok.url_match.__self__.pattern == "(?u)" + URL_PATTERN
    url_js, url_bits = url_alphabet("(?u)" + URL_PATTERN, word_rs, digit_rs, space_rs)
    check_url("(?u)" + URL_PATTERN, url_js, url_bits, [
        "http://example.com", "www.google.com", "example.com/path?x=1", "a.b", "user@mail.com", "10.0.0.1",
        "8.8.8.8", "192.168.1.1", "172.16.0.1", "172.32.0.1", "1.2.3.4:80", "foo.Bar", "foo.bar", "bücher.de",
        "例子.测试", "пример.рф", "xn--n3h.com", "a_b.com", "-a.com", "a-.com", "http://ex.com:8080/a", "٣.٣.٣.٣",
        "mailto:a@b.co", "https://a.b.co/\u00e9", "a.co\u00a0", "\U0001d41a.com", "a.\U0001d41a\U0001d41a",
        "user:pass@host.com/x", "ftp://files.example.net:8080/a.txt", "1.1.1.256", "223.255.255.254", "224.0.0.1",
    ])

    sent_punct = sorted(Sentencizer.default_punct_chars)
    assert nlp.add_pipe("sentencizer").punct_chars == set(sent_punct)

    def ts(v):
        return json.dumps(v, ensure_ascii=True)

    lines = [
        "// GENERATED by scripts/make_spacy_english.py from spaCy " + spacy.__version__
        + " (Python " + ".".join(map(str, sys.version_info[:3])) + ", Unicode " + unicodedata.unidata_version + "). Do not edit.",
        "// Tables of spaCy's English tokenizer (spacy.blank(\"en\")) and sentencizer, as used by datatrove a649de79;",
        "// read by src/data/words/spacyEnglish.ts (the algorithm) and src/data/words/pyString.ts.",
        "",
        "/** spaCy version the tables come from. */",
        f"export const SPACY_VERSION = {ts(spacy.__version__)};",
        "/** Unicode version of Python's unicodedata the sets were taken from. */",
        f"export const PY_UNICODE_VERSION = {ts(unicodedata.unidata_version)};",
        "",
        "/** Tokenizer exceptions: chunk -> its tokens (ORTH pieces, concatenating to the chunk). */",
        f"export const SPECIAL_CASES: Record<string, readonly string[]> = {ts(specials)};",
        "",
        "/** Special cases spaCy also re-applies over the affix-split tokens: key -> the token sequence matched. */",
        f"export const MATCHED_SPECIALS: Record<string, readonly string[]> = {ts(matched)};",
        "",
        "/** Character classes of the affix rules: inclusive code point ranges [lo, hi, lo, hi, ...]. */",
        f"export const AFFIX_CLASSES: readonly (readonly number[])[] = {ts(class_tables)};",
        "/** Source of each class in spaCy's rules (documentation only). */",
        f"export const AFFIX_CLASS_SOURCES: readonly string[] = {ts([s if len(s) < 80 else s[:77] + '...' for s in classes])};",
        "",
        "/** An affix rule: look-behind classes (one code point each), body, optional look-ahead class. */",
        "export interface AffixRule {",
        "  behind: readonly number[];",
        "  body: { lits: readonly string[] } | { cls: number } | { rep: string; min: number };",
        "  ahead: { neg: boolean; cls: number } | null;",
        "}",
        "/** Prefix rules in spaCy's order (the first that matches at the start wins). */",
        f"export const PREFIX_RULES: readonly AffixRule[] = {ts(prefixes)};",
        "/** Suffix rules (the match starting earliest wins). */",
        f"export const SUFFIX_RULES: readonly AffixRule[] = {ts(suffixes)};",
        "/** Infix rules in order (scanned left to right, first rule that matches at a position wins). */",
        f"export const INFIX_RULES: readonly AffixRule[] = {ts(infixes)};",
        "",
        "/**",
        " * spaCy's URL pattern (url_match) as a JavaScript expression (no flags) over the reduced alphabet: ASCII as",
        f" * itself, any other code point as U+{REP_BASE:04X} + its representative (URL_REPRESENTATIVES).",
        " */",
        f"export const URL_PATTERN_JS = {ts(url_js)};",
        "/**",
        " * Code point ranges of the representative bits of URL_PATTERN_JS (ASCII included in each, ignored): bit 1 Python",
        " * \\\\w, 2 Python \\\\d, 4 Python whitespace, 8 U+00A1..U+FFFF, 16 spaCy's ALPHA_LOWER.",
        " */",
        f"export const URL_BIT_RANGES: readonly (readonly number[])[] = {ts(url_bits)};",
        f"export const URL_REP_BASE = {REP_BASE};",
        "",
        "/** Sentencizer.default_punct_chars. */",
        f"export const SENT_PUNCT_CHARS: readonly string[] = {ts(sent_punct)};",
        "/** Code points of Unicode general category P* (spaCy's is_punct), Python's unicodedata. */",
        f"export const PUNCT_RANGES: readonly number[] = {ts(punct_rs)};",
        "/** Code points where Python's str.isalpha() holds. */",
        f"export const ALPHA_RANGES: readonly number[] = {ts(alpha_rs)};",
        "/** Code points where Python's str.isspace() holds. */",
        f"export const SPACE_RANGES: readonly number[] = {ts(space_rs)};",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
