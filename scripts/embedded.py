"""What the build_embedded_*.py scripts share: writing the arrays and printing what PROVENANCE.md records."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def write(arrays: dict[str, np.ndarray], out: Path) -> None:
    """The .npz (compressed: it ships in the wheel), then each array's shape and the sha256 of its raw bytes,
    the values autograder/data/PROVENANCE.md and tests/test_data_source.py hold."""
    np.savez_compressed(out, **arrays)
    for key, value in arrays.items():
        raw = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        print(f"{key:8} {str(value.shape):16} {raw}")
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
