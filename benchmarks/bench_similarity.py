"""The similarity pass on a large class: fingerprints of N notebooks, then the pairs.

    python benchmarks/bench_similarity.py [N]     (default 500)

The class is made from the 16 notebooks of tests/fixtures/similarity_class, each repeated (N / 16 copies,
each with one line of its own): a worst case for the comparison, since every copy shares its rare code
with every other copy. It prints the seconds for the fingerprints (made once per submission, when it is
graded) and for the comparison of the whole class (every batch)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from autograder import locations, similarity

HERE = Path(__file__).resolve().parent
CLASS = HERE.parent / "tests" / "fixtures" / "similarity_class"


def main(n: int) -> None:
    templates = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(CLASS.glob("*.ipynb"))]
    base = similarity.Base.of([locations.STARTER, locations.REFERENCE])
    notebooks = []
    for i in range(n):
        nb = json.loads(json.dumps(templates[i % len(templates)]))
        nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                            "source": f"note_{i} = 'student {i} wrote this on their own'\nprint(note_{i} * {i % 7 + 1})"})
        notebooks.append(nb)
    started = time.perf_counter()
    prints = {f"s{i:04d}": similarity.print_of(nb, {"checks": []}, base) for i, nb in enumerate(notebooks)}
    fingerprinting = time.perf_counter() - started
    started = time.perf_counter()
    pairs = similarity.compare(prints, 0.5)
    comparing = time.perf_counter() - started
    print(f"{n} notebooks: fingerprints {fingerprinting:.2f} s ({1000 * fingerprinting / n:.1f} ms each, once per "
          f"submission), comparison of the class {comparing:.2f} s, {len(pairs)} pairs listed")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
