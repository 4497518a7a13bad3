"""How numbers and values are written for a student, the same in a check's message and in the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def number(n: int) -> str:
    """'eight' for 8, in a sentence ("eight layers"); a larger number as figures ("20")."""
    return NUMBERS[n] if 0 <= n < len(NUMBERS) else str(n)


def percent(x: float) -> str:
    return f"{x * 100:.0f}%"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 setting', '3 settings': never 'setting(s)'."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def show(value: Any) -> str:  # a layer's setting: any JSON value
    """A layer setting as the student wrote it: (3, 3), 'relu', 0.3."""
    if isinstance(value, list):
        return "(" + ", ".join(map(str, value)) + ")"
    return repr(value) if isinstance(value, str) else str(value)


def data_noun(dims: Sequence[int]) -> str:
    """What an array given to fit or evaluate holds, by its shape: "images" (pictures, or pictures flattened to
    rows of pixels, 784 for 28 × 28: more columns than any one-hot labels have), else "labels"."""
    return "images" if len(dims) > 2 or (len(dims) == 2 and dims[1] > 100) else "labels"


def shape(dims: Sequence[int | None] | None) -> str:
    """(None, 26, 26, 32) as a student reads it: '26 × 26 × 32' (the batch dimension left out)."""
    if not dims:
        return "—"
    kept = [str(d) for d in (dims[1:] if dims[0] is None else dims)]
    return " × ".join(kept) or "—"


# Keras' names that mean nothing to a beginner, in the lesson's words (the exact term kept for searching).
PLAIN: dict[tuple[str, object], str] = {("activation", "linear"): "no activation (Keras calls that 'linear')",
         ("activation", None): "no activation"}


def has(key: str, value: Any) -> str:
    """What a layer has, for 'yours has …': "activation='relu'", or "no activation (Keras calls that 'linear')"."""
    plain = PLAIN.get((key, value)) if isinstance(value, (str, int, float, bool, type(None))) else None
    return plain or f"{key}={show(value)}"  # a list (kernel_size [5, 5]) is shown as it is
