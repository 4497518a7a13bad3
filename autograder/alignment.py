"""Which of the student's layers is which of the lesson's, and how to name a layer's place in words.

Layers of one class pair in order, as many as both networks have; where one has more of a class than the
other, the pairs are chosen by role first (the last layer, the output, pairs with the lesson's output) and
then by the settings they share, so that a missing hidden Dense leaves the output layer compared with the
output layer, never told to become the hidden one. Pairs out of order are "moved", unpaired lesson layers
"missing", unpaired student layers "extra".
Computed once per grade (checks.run_checks) and carried in the student's facts as "alignment", so the
three layer checks and the report's table read the same rows."""

from __future__ import annotations

from collections import Counter

from .facts import AlignmentRow, ModelDescription, Paired
from .words import ordinal


def classes_of(model: ModelDescription) -> list[str]:
    return [layer["class"] for layer in model["layers"]]


def _in_order(pairs: list[tuple[int, int]]) -> set[int]:
    """Student indices of the longest run of pairs whose reference indices also go up (the rest moved)."""
    best: list[list[int]] = []  # best[k]: a longest chain ending at pair k
    for k, (_, i) in enumerate(pairs):
        chains = [best[m] for m in range(k) if pairs[m][1] < i]
        best.append(max(chains, key=len, default=[]) + [k])
    chain = max(best, key=len, default=[])
    return {pairs[k][0] for k in chain}


OUTPUT_ROLE = 10  # outweighs any count of shared settings: the output layer is compared with the output layer


def _pairs_of_one_class(ref: ModelDescription, stu: ModelDescription, r: list[int], s: list[int]) -> list[tuple[int, int]]:
    """(student index, reference index) pairs for one class: order kept, as many pairs as possible, then the
    most shared role and settings (a small dynamic programme; a class has a handful of layers)."""
    last_ref, last_stu = len(ref["layers"]) - 1, len(stu["layers"]) - 1

    def score(i: int, j: int) -> int:
        a, b = ref["layers"][r[i]]["settings"], stu["layers"][s[j]]["settings"]
        return sum(1 for k, v in a.items() if b.get(k) == v) + OUTPUT_ROLE * int(r[i] == last_ref and s[j] == last_stu)

    best = [[(0, 0)] * (len(s) + 1) for _ in range(len(r) + 1)]  # best[i][j]: for r[i:] and s[j:]
    for i in reversed(range(len(r))):
        for j in reversed(range(len(s))):
            paired = best[i + 1][j + 1]
            best[i][j] = max((paired[0] + 1, paired[1] + score(i, j)), best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i, j = 0, 0
    while i < len(r) and j < len(s):
        paired = best[i + 1][j + 1]
        if best[i][j] == (paired[0] + 1, paired[1] + score(i, j)):
            pairs.append((s[j], r[i]))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def align_layers(ref: ModelDescription, stu: ModelDescription) -> list[AlignmentRow]:
    """Rows pairing the reference's layers with the student's: same (in order), moved (out of order),
    missing or extra."""
    a, b = classes_of(ref), classes_of(stu)
    pairs = sorted(pair for cls in set(a) & set(b) for pair in _pairs_of_one_class(
        ref, stu, [i for i, c in enumerate(a) if c == cls], [j for j, c in enumerate(b) if c == cls]))
    in_order = _in_order(pairs)
    partner = dict(pairs)
    missing = sorted(set(range(len(a))) - set(partner.values()))
    rows: list[AlignmentRow] = []
    for j in range(len(b)):
        i = partner.get(j)
        while i is not None and missing and missing[0] < i:
            rows.append({"op": "missing", "ref": missing.pop(0), "stu": None})
        if i is None:
            rows.append({"op": "extra", "ref": None, "stu": j})
        else:
            rows.append({"op": "same" if j in in_order else "moved", "ref": i, "stu": j})
    rows += [{"op": "missing", "ref": i, "stu": None} for i in missing]
    return rows


def aligned(ref: ModelDescription | None, stu: ModelDescription | None) -> list[AlignmentRow]:
    """The rows, or none when either network is missing: what a student's facts carry as "alignment"."""
    return align_layers(ref, stu) if ref and stu else []


def paired(rows: list[AlignmentRow]) -> list[Paired]:
    """The rows where a student's layer is one of the lesson's (in order or moved)."""
    return [row for row in rows if row["op"] == "same" or row["op"] == "moved"]


def position(classes: list[str], i: int) -> str:
    """'layer 2, right after the 1st Conv2D' style description of where layer i sits."""
    if i == 0:
        return "layer 1, the first layer"
    before = classes[i - 1]
    nth = classes[:i].count(before)
    return f"layer {i + 1}, right after the {ordinal(nth)} {before}"


def layer_name(classes: list[str], i: int) -> str:
    """'your 2nd Conv2D (layer 3)': how a student finds a layer in model.summary()."""
    if classes.count(classes[i]) == 1:
        return f"{classes[i]} (layer {i + 1})"
    nth = classes[:i + 1].count(classes[i])
    return f"{ordinal(nth)} {classes[i]} (layer {i + 1})"


def swapped_description(a: list[str], b: list[str]) -> str | None:
    """Two neighbouring layers swapped: describe the rarer one (MaxPooling2D rather than Conv2D)."""
    diff = [i for i in range(len(a)) if a[i] != b[i]] if len(a) == len(b) else []
    if len(diff) != 2 or diff[1] != diff[0] + 1 or a[diff[0]] != b[diff[1]] or a[diff[1]] != b[diff[0]]:
        return None
    counts = Counter(a)
    i = min(diff, key=lambda k: counts[a[k]])
    j = diff[1] if i == diff[0] else diff[0]
    return (f"{a[i]} is in the wrong place: the lesson has it as {position(a, i)}; "
            f"yours is {position(b, j)}.")
