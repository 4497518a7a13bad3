"""Which submissions share more than the lesson gave them: for the instructor's eyes only.

In this assignment the lesson dictates almost every line, so every correct notebook resembles every
other. What tells is what students wrote *beyond* the lesson and the starter: the same unusual code,
names and comments, and above all the same unusual mistakes. So, as MOSS does with a base file:

1. Each submission's code cells are tokenised (Python's own tokenizer; IPython magics dropped).
   Comments and whitespace are left out of the code signal; names become one placeholder (a renamed
   variable changes nothing), attribute names and literal values are kept (`Conv2D(48` stays unusual).
2. Fingerprints: hashes of every K consecutive tokens, winnowed (the smallest hash of every window of W
   consecutive k-grams is kept; Schleimer, Wilkerson and Aiken, 2003). Fingerprints of the starter
   notebook and of the reference solution are removed: the lesson's own code is shared by everyone.
3. A fingerprint is weighted by how rare it is in the class (log(N / students who have it)); only
   fingerprints that at most RARE_SHARE of the class share can make a pair, so pair scoring only touches
   pairs that share one (an inverted index, not every pair of a class of 500).
4. The code score of a pair is the weight of what they share over the smaller of their two weights.
   The names they both made up and the comments they both wrote (the same words), and the wrong values
   they share that few others have (the same wrong filter count, the same odd learning rate), are listed
   beside it; shared rare mistakes score on their own.

Fingerprints are computed once per submission and stored beside its result, so a re-run compares
without reading the notebooks again.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import keyword
import math
import re
import tokenize
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, TypeVar

# (token type, text, the line it is on, line number): one token of a code cell (_tokens)
Token = tuple[int, str, str, int]

K = 12  # tokens per k-gram: about one line of Keras code
W = 6  # winnowing window: any match of K + W - 1 tokens or more is always found
MIN_SHARED = 3  # fewer shared fingerprints than this is a line or two in common: not a link
# ... and they must span this many source lines: one changed lesson line (batch_size=32 in the fit call)
# is a mistake two students make on their own, and the mistakes signal already weighs it.
MIN_LINES = 2
RARE_SHARE = 0.2  # a fingerprint more than this share of the class has is ordinary, not a link
# Wrong values that are the grader's own numbers, not the student's choices: never a shared mistake.
NOT_A_CHOICE = {"train.learns", "predict.digit3", "notebook.runs"}
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
        tokenize.ENDMARKER}
BUILTINS = set(dir(builtins))
K_ = TypeVar("K_", bound=Hashable)  # what _rarity counts: fingerprints, names, comments or wrong values


@dataclass
class Print:
    """What one submission brings beyond the lesson: its fingerprints (hash → the lines they cover),
    the names it made up, its comments, and its wrong values."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    mistakes: list[list[str]] = field(default_factory=list)  # [check id, title, found]


def _tokens(source: str) -> list[Token]:
    """(type, text, line, line number) of each token; a cell Python cannot tokenise gives what it can."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            out.append((tok.type, tok.string, tok.line, tok.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _normalised(tokens: list[Token]) -> list[tuple[str, str]]:
    """(normal form, original line) for each code token: names become V, attributes and literals stay."""
    out, previous = [], ""
    for kind, text, line, _ in tokens:
        if kind in SKIP:
            continue
        if kind == tokenize.NAME and not keyword.iskeyword(text) and previous != "." and text not in BUILTINS:
            form = "V"
        elif kind == tokenize.STRING:
            form = re.sub(r"\s+", " ", text)
        else:
            form = text
        out.append((form, line.strip()))
        previous = text
    return out


def _hash(forms: list[str]) -> str:
    return hashlib.blake2b("\x1f".join(forms).encode(), digest_size=8).hexdigest()


def _fingerprints(cells: list[list[Token]]) -> dict[str, str]:
    """Winnowed k-gram fingerprints of these tokenised cells: hash → the first source line it covers."""
    chosen: dict[str, str] = {}
    for tokens in cells:
        normal = _normalised(tokens)
        grams = [(_hash([f for f, _ in normal[i:i + K]]), normal[i][1]) for i in range(len(normal) - K + 1)]
        if not grams:
            continue
        for start in range(max(1, len(grams) - W + 1)):
            h, line = min(grams[start:start + W])
            chosen.setdefault(h, line)
    return chosen


def _made_up_names(cells: list[list[Token]]) -> set[str]:
    """Names the student chose: not Python's, not attributes, not keyword arguments, not imported."""
    names: set[str] = set()
    imported: set[str] = set()
    for cell in cells:
        tokens = [(kind, text) for kind, text, _, _ in cell if kind == tokenize.NEWLINE or kind not in SKIP]
        importing = False
        for i, (kind, text) in enumerate(tokens):
            if kind == tokenize.NEWLINE or text == ";":
                importing = False
            if text in ("import", "from"):
                importing = True
            before = tokens[i - 1][1] if i else ""
            after = tokens[i + 1][1] if i + 1 < len(tokens) else ""
            if kind == tokenize.NAME and importing:
                imported.add(text)
            elif (kind == tokenize.NAME and len(text) > 3 and not keyword.iskeyword(text) and text not in BUILTINS
                    and before != "." and not (after == "=" and before in ("(", ","))):
                names.add(text)
    return names - imported


def _comments(cells: list[list[Token]]) -> set[str]:
    found = set()
    for cell in cells:
        for kind, text, _, _ in cell:
            words = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() if kind == tokenize.COMMENT else ""
            if len(words.split()) >= 3:  # "# plot" is common; a sentence is someone's
                found.add(words)
    return found


def _signals(cells: list[str]) -> tuple[dict[str, str], set[str], set[str]]:
    """(fingerprints, made-up names, comments) of these code cells, each cell tokenised once."""
    tokenised = [_tokens(cell) for cell in cells]
    return _fingerprints(tokenised), _made_up_names(tokenised), _comments(tokenised)


def code_cells(notebook: Path | dict[str, Any]) -> list[str]:
    nb = notebook if isinstance(notebook, dict) else json.loads(Path(notebook).read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb.get("cells", []) if c.get("cell_type") == "code"]


@dataclass(frozen=True)
class Base:
    """What everyone was given: the starter's and the reference's code."""

    fingerprints: frozenset[str]
    names: frozenset[str]
    comments: frozenset[str]

    @classmethod
    def of(cls, notebooks: list[Path]) -> Base:
        fingerprints, names, comments = _signals([cell for nb in notebooks for cell in code_cells(nb)])
        return cls(frozenset(fingerprints), frozenset(names), frozenset(comments))


def print_of(notebook: Path | dict[str, Any], result: dict[str, Any], base: Base) -> Print:
    """One submission's print, to be stored with its result."""
    try:
        cells = code_cells(notebook)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):  # not a notebook: no print
        cells = []
    fingerprints, names, comments = _signals(cells)
    own = {h: line for h, line in fingerprints.items() if h not in base.fingerprints}
    mistakes = [[c["id"], c["title"], c["found"]] for c in result.get("checks", [])
                if c["status"] in ("fail", "partial") and c["max_points"] > 0 and c["id"] not in NOT_A_CHOICE
                and c["found"]]
    return Print(own, sorted(names - base.names), sorted(comments - base.comments), mistakes)


@dataclass
class Pair:
    a: str
    b: str
    score: float  # 0..1: the largest of the code, the shared-mistakes and the shared-words scores
    code_score: float
    lines: list[list[str]]  # the rare code they share: [a's line, b's line]
    names: list[str]  # made-up names both use that few others do
    comments: list[str]
    mistakes: list[list[str]]  # [check id, title, found]: rare wrong values both have


def _rarity(counts: dict[K_, int], n: int) -> dict[K_, float]:
    """log(N / df), for what at most RARE_SHARE of the class (and at least 2) share."""
    limit = max(2, math.floor(RARE_SHARE * n))
    return {key: math.log(n / df) for key, df in counts.items() if 2 <= df <= limit}


def compare(prints: dict[str, Print], threshold: float) -> list[Pair]:
    """The pairs scoring at least `threshold`, highest first."""
    n = len(prints)
    if n < 2:
        return []
    fp_count: defaultdict[str, int] = defaultdict(int)
    mistake_count: defaultdict[tuple[str, ...], int] = defaultdict(int)
    name_count: defaultdict[str, int] = defaultdict(int)
    comment_count: defaultdict[str, int] = defaultdict(int)
    # who holds each fingerprint (its hash) and each wrong value (("mistake", [check id, title, found]))
    holders: defaultdict[str | tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for student, p in prints.items():
        for h in p.fingerprints:
            fp_count[h] += 1
            holders[h].append(student)
        for m in {tuple(m) for m in p.mistakes}:
            mistake_count[m] += 1
            holders[("mistake", m)].append(student)
        for name in p.names:
            name_count[name] += 1
        for comment in p.comments:
            comment_count[comment] += 1
    rare_fp, rare_mistake = _rarity(fp_count, n), _rarity(mistake_count, n)
    rare_names, rare_comments = _rarity(name_count, n), _rarity(comment_count, n)
    weight = {s: sum(rare_fp.get(h, 0) for h in p.fingerprints) for s, p in prints.items()}
    candidates: set[tuple[str, str]] = set()
    for key, who in holders.items():
        if (key[0] == "mistake" and key[1] in rare_mistake) or key in rare_fp:
            candidates.update(combinations(sorted(who), 2))
    ceiling = math.log(n / 2) or 1.0
    pairs = []
    for a, b in sorted(candidates):
        pa, pb = prints[a], prints[b]
        shared = [h for h in pa.fingerprints if h in pb.fingerprints and h in rare_fp]
        smaller = min(weight[a], weight[b])
        spans = len({pa.fingerprints[h] for h in shared})
        linked = len(shared) >= MIN_SHARED and spans >= MIN_LINES
        code_score = sum(rare_fp[h] for h in shared) / smaller if smaller and linked else 0.0
        mistakes = sorted({tuple(m) for m in pa.mistakes} & {tuple(m) for m in pb.mistakes} & set(rare_mistake))
        # Each rare mistake both made adds evidence; one that nobody else made weighs most.
        mistake_score = 1 - math.prod(1 - 0.45 * rare_mistake[m] / ceiling for m in mistakes)
        names = sorted(set(pa.names) & set(pb.names) & set(rare_names))
        comments = sorted(set(pa.comments) & set(pb.comments) & set(rare_comments))
        # The same made-up names and the same sentences in comments: weaker alone, telling together.
        words_score = 1 - math.prod([1 - 0.15 * rare_names[x] / ceiling for x in names]
                                    + [1 - 0.35 * rare_comments[x] / ceiling for x in comments])
        score = round(max(code_score, mistake_score, words_score), 3)
        if score >= threshold:
            lines = list(dict.fromkeys((pa.fingerprints[h], pb.fingerprints[h]) for h in shared))
            pairs.append(Pair(a, b, score, round(code_score, 3), [list(x) for x in lines[:12]], names[:12],
                              comments[:6], [list(m) for m in mistakes]))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return pairs
