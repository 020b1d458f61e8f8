"""Debian's chromium, driven by Playwright, for the browser tests (widget and console).

Never `playwright install` (it downloads a browser): `tools/ensure-chromium` installs
Debian's, and COMPANIN_CHROMIUM may name another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

CHROMIUM = os.environ.get("COMPANIN_CHROMIUM", "/usr/bin/chromium")
# What a closed network needs: no sandbox as root, no calls home, no first-run pages.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("COMPANIN_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
# The two widths every page is checked at: a desk and a phone.
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def launched_chromium() -> Iterator:
    """A headless chromium for the block (a generator for module-scoped fixtures)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def save_screenshot(page, name: str, full_page: bool = False) -> Path:
    """A test artifact (tests/artifacts/, or COMPANIN_TEST_ARTIFACTS): `name`.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class PageWatch:
    """What went wrong on a page: uncaught exceptions and the console's errors."""

    def __init__(self, page):
        self.page = page
        self.exceptions: list[str] = []  # uncaught in the page: never acceptable
        self.errors: list[str] = []  # the console's, such as a refused request's
        self.warnings: list[str] = []
        page.on("pageerror", lambda error: self.exceptions.append(str(error)))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)
        elif message.type == "warning":
            self.warnings.append(message.text)

    def assert_clean(self, allow_refused: bool = False) -> None:
        """No exception; no console error, or with `allow_refused` only the browser's own
        note of a refused request."""
        assert self.exceptions == []
        if allow_refused:
            assert all(e.startswith("Failed to load resource") for e in self.errors), self.errors
        else:
            assert self.errors == []
