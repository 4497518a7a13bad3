"""Debian's Chromium driven by Playwright, for the browser tests (Playwright never downloads a browser here).

Without chromium a browser test module skips locally, but fails in CI (CI=true), where a missing browser
is a broken setup, not a reason to skip."""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require() -> None:
    """Call at a test module's top: skip it (or fail, in CI) without chromium."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is not installed: .ci/run must apt-get install it")
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@contextlib.contextmanager
def launched():
    """A headless Chromium that reaches nothing on its own (no updates, sync or background requests)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            yield browser
        finally:
            browser.close()
