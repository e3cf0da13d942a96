"""What the benchmark scripts share."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def code_version(package_file: str) -> dict[str, Any]:
    """Which fastcommerce was measured: its path, and its git commit when it is in a work
    tree (with whether the package differs from that commit)."""
    pkg = Path(package_file).parent
    out: dict[str, Any] = {"path": str(pkg), "commit": None, "dirty": None}
    try:
        git = ["git", "-C", str(pkg)]
        out["commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                                       text=True, check=True).stdout.strip()
        out["dirty"] = bool(subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True,
                                           text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return out
