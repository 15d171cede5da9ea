"""A PNG of an HTML report as headless Chromium renders it (the ``--screenshot`` option)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from annotate.errors import AnnotateError

__all__ = ["chromium_executable", "screenshot"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--no-sandbox",  # containers and CI run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The report needs no network; background requests would only fail or leak.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_executable() -> str:
    """The installed Chromium (or Chrome), found on PATH."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AnnotateError(
        "--screenshot needs Chromium, and none is installed.",
        hint="Install it (e.g. apt-get install chromium), or leave out --screenshot.",
    )


def screenshot(html_path: Path, png_path: Path | None = None, *, width: int = 1200) -> Path:
    """Render an HTML report in headless Chromium to a full-page PNG (default: next to it).

    Uses the installed Chromium through Playwright (no browser download); the page may not
    fetch anything from the network, and any dialog it opens is dismissed.
    """
    executable = chromium_executable()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise AnnotateError(
            "--screenshot needs the playwright package.",
            hint="pip install playwright (it drives the installed Chromium; nothing else is "
            "downloaded).",
        ) from None
    png_path = png_path or html_path.with_suffix(".png")

    def local_only(route: Any) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=list(CHROMIUM_FLAGS)
            )
            try:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.route("**/*", local_only)
                page.on("dialog", lambda dialog: dialog.dismiss())
                page.goto(html_path.resolve().as_uri(), wait_until="load")
                page.screenshot(path=str(png_path), full_page=True)
            finally:
                browser.close()
    except PlaywrightError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
        raise AnnotateError(f"Chromium could not render {html_path}: {reason}") from None
    return png_path
