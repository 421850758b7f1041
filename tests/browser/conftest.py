"""A real browser for the HTML reports and `fabless ui`: Debian's Chromium, driven by Playwright.

`scripts/test.sh` installs Chromium (apt) where it is missing. Under CI (CI=true) a missing
browser fails the run rather than skipping it, so the browser tests cannot pass by not running.
Each test's page keeps the console errors it saw (`page.console_errors`) and leaves a
screenshot under test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _chromium() -> str | None:
    return os.environ.get("FABLESS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(why: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need {why} (scripts/test.sh installs it)")
    pytest.skip(f"browser tests need {why}")


@pytest.fixture(scope="session")
def browser():
    path = _chromium()
    if path is None:
        _unavailable("Chromium (Debian package `chromium`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright (the test extra)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh 1280x900 page; `page.console_errors` lists console errors and page exceptions."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::")[-1])
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception:  # a page that crashed still lets the test report its own failure
        pass
    context.close()
