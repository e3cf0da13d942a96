"""The docs say what the code does: hooks documented, README's commands are CI's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fastcommerce import hookspecs
from fastcommerce.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parent.parent


def hook_names():
    pm = make_plugin_manager(load_entrypoints=False)
    return sorted(name for name in dir(pm.hook) if not name.startswith("_"))


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_heading_with_its_arguments(name):
    spec = getattr(hookspecs, name)
    import inspect

    args = ", ".join(inspect.signature(spec).parameters)
    text = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### {name}({args})" in text


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(python3\.11 -m venv .*)$", readme, flags=re.M)
    assert len(commands) >= 2
    run_cmd, test_cmd = commands[0], commands[1]
    assert "fastcommerce run sample_data" in run_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_every_module_in_the_layout_table_exists():
    readme = (ROOT / "README.md").read_text()
    for path in re.findall(r"`(fastcommerce/[\w/.]+)`", readme):
        assert (ROOT / path).exists(), path


def test_reports_page_is_generated_from_the_current_code():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "build_reports.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_contract_code_is_documented_and_tested():
    codes = ["malformed_record", "unknown_schema", "missing_field", "invalid_timestamp", "invalid_item",
             "invalid_status", "invalid_quantity", "unknown_product", "total_mismatch",
             "unsupported_currency", "price_deviation", "incomplete_address", "late_event"]
    docs = " ".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    tests = " ".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    for code in codes:
        assert code in docs, f"{code} is not in docs/"
        assert f"def test_{code}" in tests or f'"{code}"' in tests, f"{code} has no test"


def test_the_plugin_page_example_package_and_its_test_work_as_written(tmp_path, monkeypatch):
    """docs/plugins.md's `fastcommerce_myvariant` and its test, run as printed."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    package = next(b for b in blocks if b.startswith("# fastcommerce_myvariant/__init__.py"))
    test = next(b for b in blocks if "def test_pos_orders_come_in" in b)
    (tmp_path / "fastcommerce_myvariant").mkdir()
    (tmp_path / "fastcommerce_myvariant" / "__init__.py").write_text(package)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    exec(compile(test, "docs/plugins.md", "exec"), namespace)
    namespace["test_pos_orders_come_in"]()
