"""Headless Chromium from Debian's ``chromium`` package, driven by Playwright.

Playwright never downloads a browser here: it launches the one on PATH, which
`make test` installs with apt.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError(
            "no chromium on PATH: run `make test` (it installs Debian's chromium) or "
            "`apt-get install chromium`"
        )
    return path


@contextmanager
def launched() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            browser.close()
