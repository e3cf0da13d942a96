"""Open the dashboard in headless Chromium, as the browser test and the docs' screenshot do.

No Python package is needed: Chromium itself dumps the DOM after the page's script ran
(``--dump-dom``) and writes screenshots. The profile is a fresh directory, and host
resolution is switched off (``--host-resolver-rules``), so a page that tried to fetch
anything would fail to, and the check would see it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0")


def find_chromium() -> str | None:
    """The browser binary: ``$FASTCOMMERCE_CHROMIUM`` if set, else the first on PATH."""
    named = os.environ.get("FASTCOMMERCE_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def _run(binary: str, page: Path, profile: Path, *extra: str, timeout: float) -> subprocess.CompletedProcess[str]:
    args = [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def dump_dom(binary: str, page: Path, profile: Path, *, timeout: float = 90) -> tuple[str, str]:
    """``(DOM after the page loaded, the browser's stderr log)``."""
    proc = _run(binary, page, profile, "--dump-dom", timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} --dump-dom exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout, proc.stderr


def screenshot(binary: str, page: Path, png: Path, profile: Path, *, size: tuple[int, int] = (1280, 2400),
               timeout: float = 90) -> Path:
    """A PNG of the page at ``size`` (width, height) pixels."""
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(binary, page, profile, f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}",
                "--hide-scrollbars", timeout=timeout)
    if proc.returncode != 0 or not png.is_file():
        raise RuntimeError(f"{binary} --screenshot exited {proc.returncode}: {proc.stderr[-2000:]}")
    return png
