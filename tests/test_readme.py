"""README's two commands stay true: CI runs exactly the test command README gives."""
import re

from conftest import ROOT


def _commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_has_setup_run_and_test_commands():
    cmds = _commands()
    assert any(c.rstrip().endswith("heatpose demo") for c in cmds)
    assert any("pytest" in c for c in cmds)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(c for c in _commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd.strip() in [line.strip() for line in ci]
