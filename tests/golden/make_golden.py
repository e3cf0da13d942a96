"""Record the golden report outputs: ``tests/golden/<case>/<report>.<fmt>``, ``state.json``
and ``inputs.json`` for every case of ``cases.py`` (or the cases named).

    PYTHONPATH=. python tests/golden/make_golden.py            # every case
    PYTHONPATH=. python tests/golden/make_golden.py seed1      # one case
    PYTHONPATH=. python tests/golden/make_golden.py --check    # compare only, write nothing

Each case is built twice from scratch (``--once`` skips the second build): the generator
must give the same input bytes and the pipeline the same outputs both times, or nothing is
written. Recording is for the code as it is today; after the storage rewrite the test
(``tests/test_golden_reports.py``) compares against these files, and they are not to be
re-recorded to make it pass.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

import cases as golden
from cases import CASES, GOLDEN_DIR, INPUT_FILES, Case, build, inputs_bytes


def sanity(case: Case, workdir: Path, pipeline) -> None:
    """Checks of the case's own design, not of the pipeline: the split batches add up to
    the input, and the revenue range recorded covers every date with revenue."""
    data = workdir / "input"
    feed = golden.batches(case, data)
    for name in INPUT_FILES[1:]:
        whole = b"".join(b[name] for b in feed)
        assert whole == (data / name).read_bytes(), f"{case.name}: the batches of {name} do not add up"
    window = golden.report_invocations(case)[0][2]
    wide = pipeline.report("revenue", start=date(1900, 1, 1), end=date(2999, 12, 31)).rows
    assert pipeline.report("revenue", **window).rows == wide, f"{case.name}: revenue outside the window"


def record(case: Case, files: dict[str, bytes], inputs: bytes) -> int:
    folder = GOLDEN_DIR / case.name
    folder.mkdir(exist_ok=True)
    for old in [*folder.glob("*.json"), *folder.glob("*.csv")]:
        old.unlink()
    total = 0
    for name, data in sorted({**files, "inputs.json": inputs}.items()):
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def compare(case: Case, files: dict[str, bytes], inputs: bytes) -> list[str]:
    folder = GOLDEN_DIR / case.name
    want = {p.name: p.read_bytes() for p in folder.glob("*") if p.suffix in (".json", ".csv")}
    got = {**files, "inputs.json": inputs}
    return [n for n in sorted(set(want) | set(got)) if want.get(n) != got.get(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"default: all of {', '.join(CASES)}")
    parser.add_argument("--check", action="store_true", help="compare with the recorded files; write nothing")
    parser.add_argument("--once", action="store_true", help="build each case once (no determinism check)")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    failed = False
    for name in args.cases or list(CASES):
        case = CASES[name]
        runs = []
        for attempt in range(1 if args.once else 2):
            with tempfile.TemporaryDirectory(prefix=f"golden-{name}-") as tmp:
                work = Path(tmp)
                built = build(case, work, on_pipeline=lambda p, c=case, w=work: sanity(c, w, p))
                inputs = {n: (work / "input" / n).read_bytes() for n in INPUT_FILES}
            runs.append((built, inputs))
        built, inputs = runs[0]
        problems = []
        for other, other_inputs in runs[1:]:
            problems += [f"input {n} differs between two generations" for n in INPUT_FILES
                         if inputs[n] != other_inputs[n]]
            problems += [f"{n} differs between two builds" for n in sorted(built.files)
                         if built.files[n] != other.files.get(n)]
        if built.rebuilt is not None:
            problems += [f"{n} differs after a full rebuild" for n in sorted(built.files)
                         if built.files[n] != built.rebuilt.get(n)]
        if problems:
            failed = True
            print(f"{name}: NOT DETERMINISTIC, not recorded:\n  " + "\n  ".join(problems))
            continue
        inputs_json = inputs_bytes(built.inputs)
        if args.check:
            bad = compare(case, built.files, inputs_json)
            failed |= bool(bad)
            print(f"{name}: " + (f"DIFFERS: {', '.join(bad)}" if bad else "same"))
        else:
            size = record(case, built.files, inputs_json)
            print(f"{name}: {len(built.files) + 1} files, {size:,} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
