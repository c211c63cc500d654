"""README's commands stay true: CI runs exactly the test command README gives, and the Python
example runs as written."""
import os
import re
import subprocess
import sys

import pytest
import torch

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


def run_readme_block(block: str, prelude: str, cwd) -> subprocess.CompletedProcess:
    """A README code block, verbatim after ``prelude``, in a fresh interpreter that sees this
    checkout, with HEATPOSE_HOME under ``cwd``; user warnings are errors."""
    env = {**os.environ, "HEATPOSE_HOME": str(cwd / "home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", prelude + block],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _python_blocks():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python\n"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.+?)\n```", section, flags=re.S)


@pytest.mark.slow
def test_readme_python_block_runs_as_written(tmp_path):
    """The README's Python example, verbatim, in a fresh interpreter (HEATPOSE_HOME = tmp): its
    ``pretrained=True`` download is served by http.server on 127.0.0.1 (tests never reach the
    internet) - the recipe's checkpoint URL points there, at a checkpoint of MMPose's layout."""
    from heatpose.models.build import RandomWeightsWarning, build_model
    from heatpose.recipes import get_recipe

    (block,) = _python_blocks()
    name = re.search(r'build_model\("([^"]+)", pretrained=True\)', block).group(1)
    assert get_recipe(name).checkpoint_url.startswith("https://download.openmmlab.com/")
    served = tmp_path / "served"
    served.mkdir()
    torch.manual_seed(0)
    with pytest.warns(RandomWeightsWarning):
        model = build_model(name)
    torch.save({"state_dict": model.state_dict(), "meta": {"mmpose_version": "1.3.2"}},
               served / "hrnet_w32_coco.pth")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "--directory", str(served)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
        prelude = ("import dataclasses, heatpose.recipes as r\n"
                   f"rec = r.get_recipe({name!r})\n"
                   f"object.__setattr__(rec, 'checkpoint_url', "
                   f"'http://127.0.0.1:{port}/hrnet_w32_coco.pth')\n")
        done = run_readme_block(block, prelude, tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert name in lines[0]
    assert lines[1:3] == ["(1, 17, 2)", "(1, 17)"]
    assert (tmp_path / "home" / "hrnet_w32_coco.pth").is_file()                    # downloaded
