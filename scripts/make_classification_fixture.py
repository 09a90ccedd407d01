"""Writes test/eval/fixtures/classification.json: expected answer and classification metrics for
src/eval/metrics/classification.ts.

SQuAD: a Python port of the official SQuAD v1.1 evaluation script (evaluate-v1.1.py: normalize_answer, f1_score,
exact_match_score, metric_max_over_ground_truths, evaluate), run on hand-picked answers (articles, punctuation,
Unicode word characters next to articles, Python-only whitespace, empty normalised answers) and random ones.
Classification: scikit-learn 1.2.1 accuracy_score, confusion_matrix, precision_recall_fscore_support and f1_score
on random and edge cases (a class absent from predictions or from truth, a single class, binary with pos_label,
multiclass, string labels, explicit label subsets), every average x every zero_division; a call scikit-learn
refuses is recorded as an error.

Run from the repository root:
    /usr/bin/python3 scripts/make_classification_fixture.py
"""

import json
import os
import platform
import random
import re
import string
import sys
import warnings
from collections import Counter

import sklearn
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "eval", "fixtures", "classification.json")
SEED = 20261202


# ---------------------------------------------------------------- official SQuAD v1.1 evaluation (ported)
def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score_squad(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


def evaluate(examples):
    """The official evaluate() over [(prediction or None, ground_truths)]; None is an unanswered question."""
    f1 = exact_match = total = 0
    for prediction, ground_truths in examples:
        total += 1
        if prediction is None:
            continue
        exact_match += metric_max_over_ground_truths(exact_match_score, prediction, ground_truths)
        f1 += metric_max_over_ground_truths(f1_score_squad, prediction, ground_truths)
    exact_match = 100.0 * exact_match / total
    f1 = 100.0 * f1 / total
    return {"exactMatch": exact_match, "f1": f1}


SQUAD_HAND = [
    ("The Eiffel Tower", ["Eiffel Tower", "the eiffel tower in Paris"]),
    ("Eiffel tower!", ["The Eiffel Tower."]),
    ("a an the", ["the"]),
    ("The", ["a"]),
    ("", ["Paris"]),
    ("Paris", [""]),
    ("", [""]),
    ("...", ["!!!"]),
    ("the the the cat", ["the cat cat"]),
    ("cat cat dog", ["cat dog dog", "dog"]),
    ("theater and anthem", ["the ater an them"]),
    ("Denver Broncos", ["Denver Broncos", "Denver Broncos", "Denver Broncos"]),
    ("Santa Clara, California", ["Levi's Stadium", "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California."]),
    ("1,000,000 dollars", ["1000000 dollars", "$1 million"]),
    ("U.S.A.", ["usa"]),
    ("rock-n-roll", ["rocknroll", "rock n roll"]),
    ("éthe café", ["é the café"]),
    ("the² a½ an_x", ["the2"]),
    ("the\u0301 cat", ["\u0301 cat"]),
    ("THE ΣΟΦΙΑΣ", ["σοφιας", "σοφιασ"]),
    ("İstanbul", ["i̇stanbul", "istanbul"]),
    ("Straße", ["strasse", "straße"]),
    ("tab\tand\nnew\x1cline\x85x\u00a0y\u3000z", ["tab and new line x y z"]),
    ("zero\ufeffwidth", ["zero width", "zero\ufeffwidth"]),
    ("«Guillemets» and “quotes”", ["guillemets and quotes"]),
    ("a", ["a"]),
    ("A.", ["an"]),
    ("the-end", ["end"]),
    ("Thea and Anne", ["thea anne"]),
    ("北京 the 大学", ["北京 大学"]),
    ("emoji 😀 the 😀", ["emoji 😀😀"]),
    ("don't stop", ["dont stop", "do not stop"]),
]

WORDS = ["the", "a", "an", "The", "A", "cat", "Cat", "dog", "1", "two", "3.5", "New", "York", "café", "an-", "the,", "ÅNGSTRÖM", "i", "x"]
PUNCT = ["", "", "", ".", ",", "!", "'", '"', "-", "(", ")", "?", "_", "«"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\u00a0"]


def random_answer(rng):
    n = rng.randint(0, 6)
    parts = []
    for _ in range(n):
        parts.append(rng.choice(PUNCT) + rng.choice(WORDS) + rng.choice(PUNCT))
        parts.append(rng.choice(SPACES))
    return "".join(parts)


def squad_cases(rng):
    cases = list(SQUAD_HAND)
    for _ in range(60):
        truths = [random_answer(rng) for _ in range(rng.randint(1, 3))]
        pred = rng.choice(truths) if rng.random() < 0.2 else random_answer(rng)
        cases.append((pred, truths))
    out = []
    for pred, truths in cases:
        out.append({
            "prediction": pred,
            "groundTruths": truths,
            "normalized": normalize_answer(pred),
            "exactMatch": int(metric_max_over_ground_truths(exact_match_score, pred, truths)),
            "f1": float(metric_max_over_ground_truths(f1_score_squad, pred, truths)),
        })
    corpus = [(c["prediction"], c["groundTruths"]) for c in out] + [(None, ["unanswered"])]
    return out, {"examples": [{"prediction": p, "groundTruths": g} for p, g in corpus], **evaluate(corpus)}


# ---------------------------------------------------------------- scikit-learn classification
AVERAGES = ["binary", "micro", "macro", "weighted", None]
ZERO_DIVISIONS = ["warn", 0, 1]


def plain(x):
    """numpy scalars / arrays to JSON-ready Python values."""
    if x is None:
        return None
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


def run_classification(y_true, y_pred, labels=None, pos_label=1):
    case = {"yTrue": y_true, "yPred": y_pred}
    if labels is not None:
        case["labels"] = labels
    if pos_label != 1:
        case["posLabel"] = pos_label
    case["accuracy"] = float(accuracy_score(y_true, y_pred))
    try:
        case["confusion"] = plain(confusion_matrix(y_true, y_pred, labels=labels))
    except ValueError as e:
        case["confusion"] = {"error": str(e)}
    results = []
    for average in AVERAGES:
        for zd in ZERO_DIVISIONS:
            entry = {"average": average or "none", "zeroDivision": zd}
            try:
                p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=average, labels=labels, pos_label=pos_label, zero_division=zd)
                f1 = f1_score(y_true, y_pred, average=average, labels=labels, pos_label=pos_label, zero_division=zd)
                entry.update(precision=plain(p), recall=plain(r), f=plain(f), support=plain(s), f1Score=plain(f1))
            except ValueError as e:
                entry["error"] = str(e)
            results.append(entry)
    case["prf"] = results
    return case


def classification_cases(rng):
    cases = []
    add = lambda *a, **k: cases.append(run_classification(*a, **k))  # noqa: E731
    # hand-made edge cases
    add([0, 1, 1, 0, 1], [0, 1, 0, 0, 1])
    add([0, 0, 0, 0], [0, 0, 0, 0])  # single class, no positive anywhere
    add([1, 1, 1], [1, 1, 1])  # single class, the positive one
    add([0, 0, 1, 1], [0, 0, 0, 0])  # positive class absent from predictions
    add([0, 0, 0, 0], [0, 1, 0, 1])  # positive class absent from truth
    add([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1])
    add([0, 1, 2, 2, 2], [0, 1, 1, 1, 1])  # class 2 never predicted
    add([0, 1, 1, 1, 1], [0, 1, 2, 2, 2])  # class 2 never true
    add(["cat", "dog", "pig", "cat", "dog", "pig"], ["cat", "pig", "dog", "cat", "cat", "dog"])
    add(["cat", "dog", "pig", "cat", "dog", "pig"], ["cat", "pig", "dog", "cat", "cat", "dog"], labels=["pig", "dog", "cat"])
    add(["cat", "dog", "pig", "cat", "dog", "pig"], ["cat", "pig", "dog", "cat", "cat", "dog"], labels=["pig", "cat"])
    add(["spam", "ham", "spam", "ham", "ham"], ["spam", "spam", "ham", "ham", "ham"], pos_label="spam")
    add(["spam", "ham", "spam", "ham", "ham"], ["spam", "spam", "ham", "ham", "ham"])  # pos_label 1 is not a label
    add(["spam", "spam"], ["spam", "spam"], pos_label="ham")  # pos_label absent, one class present
    add([0, 1, 0, 1], [1, 1, 0, 0], pos_label=0)
    add([0, 1, 0, 1], [1, 1, 0, 0], pos_label=2)  # invalid pos_label
    add([-1, 1, 1, -1, -1], [1, 1, -1, -1, -1])
    add([3, 5, 5, 3], [5, 5, 3, 3], labels=[5, 3, 7])  # a label present nowhere
    add([0, 1, 2, 3], [0, 1, 2, 3], labels=[9])  # only an absent label
    add([0, 0, 1, 1], [2, 2, 2, 2], labels=[0, 1])  # predictions outside the labels
    add([10, 2, 33, 2, 10], [2, 2, 33, 10, 10])  # numeric (not string) sort order
    add(["b", "B", "é", "\uff5e", "\U0001f600", "a"], ["B", "b", "\U0001f600", "\uff5e", "é", "a"])  # code point order
    add([0, 1, 1, 2, 0], [0, 1, 0, 2, 2], labels=[1, 1, 0])  # a label listed twice
    add(["x"], ["y"])
    add(["x"], ["x"])
    # random cases
    for i in range(80):
        kind = i % 4
        n = rng.randint(1, 40)
        if kind == 0:  # binary 0/1
            yt = [rng.randint(0, 1) for _ in range(n)]
            yp = [rng.randint(0, 1) for _ in range(n)]
            add(yt, yp, pos_label=rng.choice([1, 1, 0]))
        elif kind == 1:  # multiclass ints, sometimes a class only on one side
            k = rng.randint(2, 6)
            yt = [rng.randint(0, k - 1) for _ in range(n)]
            yp = [rng.randint(0, k - 1 + rng.randint(0, 1)) for _ in range(n)]
            labels = None
            if rng.random() < 0.4:
                pool = list(range(k + 1))
                labels = rng.sample(pool, rng.randint(1, len(pool)))
            add(yt, yp, labels=labels)
        elif kind == 2:  # string labels
            names = rng.sample(["apple", "Banana", "cherry", "date", "élan", "fig"], rng.randint(1, 5))
            yt = [rng.choice(names) for _ in range(n)]
            yp = [rng.choice(names) for _ in range(n)]
            labels = rng.sample(names, rng.randint(1, len(names))) if rng.random() < 0.3 else None
            add(yt, yp, labels=labels, pos_label=names[0] if len(names) <= 2 else 1)
        else:  # skewed: mostly one class
            yt = [0 if rng.random() < 0.85 else rng.randint(1, 3) for _ in range(n)]
            yp = [0 if rng.random() < 0.9 else rng.randint(1, 3) for _ in range(n)]
            add(yt, yp)
    return cases


def main():
    warnings.simplefilter("ignore")
    rng = random.Random(SEED)
    squad, corpus = squad_cases(rng)
    fixture = {
        "format": "llmforge classification metrics v1",
        "writtenBy": "scripts/make_classification_fixture.py",
        "definition": "official SQuAD v1.1 evaluate-v1.1.py (our Python port); scikit-learn metrics",
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "seed": SEED,
        "squad": squad,
        "squadCorpus": corpus,
        "classification": classification_cases(rng),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False)
        f.write("\n")
    n_prf = sum(len(c["prf"]) for c in fixture["classification"])
    print(f"wrote {OUT}: {len(squad)} SQuAD answers, {len(fixture['classification'])} label cases, {n_prf} precision/recall/F1 calls", file=sys.stderr)


if __name__ == "__main__":
    main()
