"""Remake example_class.json, the example class's verdicts that a redesign must keep.

    python tests/golden/remake.py graded/     (after `make demo`)

Run it only for a change of behaviour that is meant, and say what changed in the commit."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECK_KEYS = ("id", "status", "points", "max_points", "expected", "found", "message", "hint", "details", "where",
              "caused_by")


# The checks whose words quote the brief training's figures ("76%"): the golden file keeps their words
# exactly and their figures apart, compared within the tolerance the grader itself allows (test_golden).
TRAINED = ("train.learns", "predict.digit3")
FIGURE = re.compile(r"\d+(?:\.\d+)?(?=%)")


def _check(check: dict) -> dict:
    kept = {k: check.get(k) for k in CHECK_KEYS}
    if check["id"] in TRAINED:
        kept["figures"] = []
        for key in ("expected", "found", "message", "hint"):
            kept["figures"] += [float(n) for n in FIGURE.findall(kept[key] or "")]
            kept[key] = FIGURE.sub("{n}", kept[key] or "")
    return kept


def essentials(result: dict) -> dict:
    """What a student is told, without timings, versions, paths or dates; training figures apart."""
    return {"status": result["status"], "score": result["score"], "max_score": result["max_score"],
            "checks": [_check(c) for c in result["checks"]],
            "layers": [{k: row[k] for k in ("op", "differs", "ref_index", "stu_index")} for row in result.get("layers", [])],
            "cell_errors": [{k: e.get(k) for k in ("cell", "line", "ename", "code")} for e in result.get("cell_errors", [])]}


def main(graded: Path) -> None:
    out = {p.name.split(".")[0]: essentials(json.loads(p.read_text(encoding="utf-8")))
           for p in sorted(graded.glob("*.result.json"))}
    (HERE / "example_class.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(out)} results written to {HERE / 'example_class.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
