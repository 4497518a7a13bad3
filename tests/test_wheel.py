"""The built wheel installs and grades from a folder that has nothing to do with the repository."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_wheel_grades_the_reference_from_any_folder(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("cnn_autograder-*.whl"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    target = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                                str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    # TensorFlow and the rest come from this environment (no network in tests), the grader from the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (target / "zz_dependencies.pth").write_text("\n".join(deps) + "\n")
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    python = env_dir / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import autograder, json; from autograder import locations; "
                            "print(json.dumps([autograder.__file__, str(locations.REFERENCE), str(locations.TEMPLATES)]))"],
                           capture_output=True, text=True, cwd=elsewhere)
    files = json.loads(where.stdout)
    assert all(f.startswith(str(target)) for f in files), files  # nothing from the checkout
    graded = subprocess.run([str(python), "-m", "autograder", "reference", "-o", str(elsewhere / "out")],
                            capture_output=True, text=True, cwd=elsewhere, timeout=900)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "The reference earns full marks" in graded.stdout
    result = json.loads((elsewhere / "out" / "reference.result.json").read_text())
    assert result["score"] == result["max_score"]
    # The service's migrations and pages ship too: `links` creates its database from the installed package.
    (elsewhere / "service").mkdir()
    links = subprocess.run([str(python), "-m", "autograder", "links", str(elsewhere / "service")],
                           capture_output=True, text=True, cwd=elsewhere, timeout=120)
    assert links.returncode == 0 and links.stdout.splitlines() == ["student,name,token,url"], links.stderr
    assert (target / "autograder" / "templates" / "service.js").is_file()
