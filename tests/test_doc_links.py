"""The docs stand on their own (issue 17, items 4o and 4p): no link leads outside the
repository, every page that speaks of the contract links to docs/data-contract.md, which
names every code a built-in validator reports, and the command line's help and README's
tour say what a new user needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fastcommerce import Pipeline
from fastcommerce.cli import main

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=False)
    files = [ROOT / p for p in listed.stdout.split()] if listed.returncode == 0 else []
    return files or [p for p in ROOT.rglob("*.md") if ".venv" not in p.parts]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_links_or_points_outside_the_repository(page):
    text = page.read_text()
    assert "../shared" not in text and "/work/shared" not in text, f"{page}: names a file outside the repository"
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the page
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page}: {target} is outside the repository"
        assert path.exists(), f"{page}: {target} does not exist"


@pytest.mark.parametrize("page", [p for p in markdown_files() if re.search(r"\bcontract\b", p.read_text(), re.IGNORECASE)
                                  and p.name != "data-contract.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_page_that_speaks_of_the_contract_links_to_ours(page):
    targets = [(page.parent / t).resolve() for t in LINK.findall(page.read_text())]
    assert ROOT / "docs" / "data-contract.md" in targets, f"{page} does not link to docs/data-contract.md"


def test_the_contract_page_names_every_code_a_builtin_validator_reports():
    text = (ROOT / "docs" / "data-contract.md").read_text()
    with Pipeline(":memory:", load_entrypoints=False) as p:
        codes = {code for _plugin, v in p.validators.all() for code in v.codes}
    assert codes >= {"implausible_timestamp", "missing_field"}
    for code in sorted(codes | {"malformed_record", "unknown_schema", "late_event"}):
        assert f"`{code}`" in text, code


def test_run_help_names_the_files_data_dir_must_hold():
    out = CliRunner().invoke(main, ["run", "--help"]).output
    with Pipeline(":memory:", load_entrypoints=False) as p:
        files = [s.default_file for s in p.streams if s.default_file]
    assert len(files) == 3
    for name in files:
        assert name in out, name


def test_db_help_names_its_environment_variable():
    out = CliRunner().invoke(main, ["--help"]).output
    assert "--db" in out and "$FASTCOMMERCE_DB" in out


def test_readme_tour_shows_every_command():
    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("## A 30-second tour"):readme.index("## ", readme.index("## A 30-second tour") + 5)]
    shown = set(re.findall(r"^\$ fastcommerce (?:--\S+ \S+ )*([a-z][a-z-]*)", tour, flags=re.MULTILINE))
    assert {"project", "rebuild"} <= shown
    assert set(main.commands) <= shown, f"not in README's tour: {sorted(set(main.commands) - shown)}"
