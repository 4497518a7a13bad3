"""What to tell a beginner: advice for the errors this lesson's students meet, and the sentences that
forgive the lesson's own slips. Text only; the checks decide when to say it."""

from __future__ import annotations

from .execute import TIMEOUT_ENAME
from .facts import CellErrorFacts
from .results import at
from .rubric import Rubric

KNOWN_SLIPS = (
    # (exception name, text in the error or cell, what to tell the student)
    ("SyntaxError", "MaxPooling2D()))",
     "The lesson's first MaxPooling2D line, model.add(MaxPooling2D())), has one ')' too many. "
     "Write model.add(MaxPooling2D(pool_size=(2,2)))."),
    ("NameError", "test_acc",
     "The lesson prints test_acc, but never creates it. model.evaluate returns [loss, accuracy] in scores, "
     "so use scores[1] (a fraction; multiply by 100 for a percentage)."),
)
IMPORT_NAMES = {"Sequential": "tensorflow.keras.models", "Conv2D": "tensorflow.keras.layers",
                "MaxPooling2D": "tensorflow.keras.layers", "Dropout": "tensorflow.keras.layers",
                "Flatten": "tensorflow.keras.layers", "Dense": "tensorflow.keras.layers",
                "Input": "tensorflow.keras.layers", "Model": "tensorflow.keras.models"}  # a functional lesson's


def lesson_has_slips(rubric: Rubric) -> bool:
    """Is this the lesson whose text has the slips KNOWN_SLIPS and POOLING_SLIP speak of (the CNN on MNIST)? Its
    assignment file says so with a [slips] table (rubric.slips); another lesson's students are never told
    that "the lesson" wrote something it did not."""
    return rubric.slips


def explain_error(ename: str, evalue: str, source: str, lesson_slips: bool = True) -> str:
    """A hint for errors beginners meet in this lesson; '' when there is none. lesson_slips: the lesson is the
    one whose text has KNOWN_SLIPS (lesson_has_slips)."""
    for name, marker, advice in KNOWN_SLIPS if lesson_slips else ():
        if ename == name and (marker in evalue or marker in source):
            return advice
    if ename == "NameError":
        for name, module in IMPORT_NAMES.items():
            if f"'{name}'" in evalue:
                return f"Python does not know {name} yet: add  from {module} import {name}  in an earlier cell."
        return "A name is used before it is created: run the cells from the top, in order."
    if ename == "TypeError" and "not subscriptable" in evalue and "scores" in source:
        return ("scores[1] needs model.evaluate to return a list [loss, accuracy], which it does only when "
                "compile has metrics=['accuracy']; without metrics it returns the loss alone, a single number.")
    if ename == TIMEOUT_ENAME:
        return "This cell ran too long and was stopped. Look for a loop that never ends."
    if ename == "DeadKernelError":
        return "The Python kernel crashed (often from running out of memory) and nothing after it ran."
    return ""


def forgiven(e: CellErrorFacts, rubric: Rubric) -> str | None:
    """The friendly sentence for an error that only a slip of the lesson's text caused, when the
    rubric forgives that slip."""
    if "test_acc" in rubric.forgive and e["ename"] == "NameError" and "test_acc" in e["evalue"]:
        return (f"{at(e)}: the lesson prints test_acc, which it never creates, so this line stops with a "
                "NameError. That slip is the lesson's, not yours: no points lost. (scores[1] holds the accuracy.)")
    return None


POOLING_SLIP = ("The lesson says “below the second Conv2D layer, add a new 2D pooling layer”, but at that point "
                "there is only one Conv2D. You did what the text says, so no points are lost; the lesson's "
                "network has the pooling layer right after the first Conv2D.")
