"""Screenshots of a student's report and the class page at desktop and phone widths, for the README.

    python benchmarks/screenshots.py graded/ docs/screenshots/   (after `make demo`; needs chromium)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

SHOTS = [("cleo.report.html", "report"), ("index.html", "class")]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def main(graded: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu"])
        for page_name, label in SHOTS:
            for size, (width, height) in SIZES.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto((graded / page_name).resolve().as_uri())
                path = out / f"{label}-{size}.png"
                page.screenshot(path=str(path))
                page.close()
                # 64 colours keep the PNGs small enough to commit; text stays sharp.
                Image.open(path).convert("RGB").quantize(64).save(path, optimize=True)
                print(path, path.stat().st_size // 1024, "KiB")
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
