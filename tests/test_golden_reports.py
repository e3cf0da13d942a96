"""Every built-in report, byte for byte, against the outputs recorded in ``tests/golden/``.

Each case of ``tests/golden/cases.py`` is rebuilt from scratch with the current code (input
regenerated from its seed, fresh SQLite file, built-in plugins only, the case's step clock)
and every recorded file must come out identical: the reports as ``fastcommerce report
--format json|csv`` prints them, and ``state.json`` (per-order and stock-level state, read
by ``cases.read_state``, the one function to adapt when projection tables are renamed).

The recorded files are the behaviour to keep. Re-record (``tests/golden/make_golden.py``)
only for a deliberate change of a report, and say so in the commit.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def _load_cases():
    spec = importlib.util.spec_from_file_location("golden_cases", GOLDEN / "cases.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


cases = _load_cases()
MAX_DIFF_LINES = 40


def first_differences(name: str, want: bytes, got: bytes) -> str:
    """The first differing lines of two versions of a file, as a unified diff."""
    if got is None:
        return f"{name}: recorded, but not produced"
    if want is None:
        return f"{name}: produced, but not recorded"
    a = want.decode("utf-8", "replace").splitlines(keepends=True)
    b = got.decode("utf-8", "replace").splitlines(keepends=True)
    diff = list(difflib.unified_diff(a, b, f"recorded/{name}", f"now/{name}", n=2))
    if not diff:  # the same lines: the difference is in line endings or the final newline
        return f"{name}: differs only in line endings or the final newline"
    more = len(diff) - MAX_DIFF_LINES
    shown = "".join(diff[:MAX_DIFF_LINES])
    return shown + (f"\n... ({more} more diff lines)" if more > 0 else "")


def recorded(case) -> dict[str, bytes]:
    folder = GOLDEN / case.name
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".json", ".csv")}


def assert_same(case, want: dict[str, bytes], got: dict[str, bytes], what: str) -> None:
    differing = [n for n in sorted(set(want) | set(got)) if want.get(n) != got.get(n)]
    if differing:
        details = "\n\n".join(first_differences(n, want.get(n), got.get(n)) for n in differing[:3])
        pytest.fail(f"{case.name} ({what}): {len(differing)} file(s) differ from tests/golden/{case.name}/: "
                    f"{', '.join(differing)}\n\n{details}", pytrace=False)


@pytest.mark.parametrize("name", list(cases.CASES))
def test_reports_are_byte_identical_to_the_recorded_ones(name, tmp_path):
    case = cases.CASES[name]
    want = recorded(case)
    assert want, f"nothing recorded for {name}: run tests/golden/make_golden.py"
    built = cases.build(case, tmp_path)
    # the input first: a different input is not a report regression
    inputs, recorded_inputs = cases.inputs_bytes(built.inputs), want.pop("inputs.json", None)
    if inputs != recorded_inputs:
        pytest.fail(f"{name}: the input fed is not the recorded one (the generator, or the way the case "
                    f"splits it, changed), so the reports cannot be compared\n\n"
                    + first_differences("inputs.json", recorded_inputs, inputs), pytrace=False)
    assert_same(case, want, built.files, "catch-up")
    if built.rebuilt is not None:
        assert_same(case, want, built.rebuilt, "after a full rebuild")
