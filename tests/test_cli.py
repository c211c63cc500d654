"""The ``heatpose`` shell: lazy start-up, --version, ``python -m heatpose``, help texts, one-line
errors for bad flags and devices, --debug, quiet broken pipes, the device rule and progress."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

from heatpose.cli import COMMANDS, main
from heatpose.errors import InputError
from heatpose.progress import ProgressBar

PY = sys.executable


def run_py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["zoo"], ["eval", "--help"]])
def test_light_commands_do_not_import_torch(argv):
    """`heatpose --help` / `zoo` must not pay for torch (issue 10: start in < 0.5 s)."""
    proc = run_py("import sys; from heatpose.cli import main; main(%r); "
                  "print('HEAVY', sorted(m for m in ('torch', 'cv2', 'onnxruntime') "
                  "if m in sys.modules))" % (argv,))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_version_and_python_m():
    import heatpose

    proc = subprocess.run([PY, "-m", "heatpose", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith(f"heatpose {heatpose.__version__}")
    proc = subprocess.run([PY, "-m", "heatpose"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "COMMAND" in proc.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_is_plain_text_with_examples(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "`" not in text and ":func:" not in text and ":class:" not in text
    if command in ("demo", "infer", "test", "eval", "weights", "zoo", "config", "train"):
        assert "\nexamples:\n  heatpose " in text
        assert max(len(line) for line in text.splitlines()) <= 100     # wrapped lines


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert f"\n    {command} " in text
    assert "``" not in text


@pytest.mark.parametrize("argv,flag", [
    (["infer", "x.jpg", "--batch-size", "0"], "--batch-size"),
    (["infer", "x.jpg", "--det-thr", "1.5"], "--det-thr"),
    (["infer", "x.jpg", "--kpt-thr", "nan"], "--kpt-thr"),
    (["infer", "x.jpg", "--line-width", "0"], "--line-width"),
    (["infer", "x.jpg", "--nms-thr", "-1"], "--nms-thr"),
    (["infer", "x.jpg", "--device", "gpu"], "--device"),
    (["infer", "x.jpg", "--onnx", "model.pth"], "--onnx model.pth: expected a .onnx file"),
    (["test", "res50_coco_256x192", "--workers", "-1"], "--workers"),
    (["test", "res50_coco_256x192", "--batch-size", "two"], "--batch-size"),
    (["nosuchcommand"], "invalid choice"),
])
def test_bad_flags_are_one_line_errors(argv, flag, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and flag in err and "Traceback" not in err
    assert err.startswith("heatpose")


def test_cuda_on_a_cpu_build_is_one_line(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["infer", str(tmp_path / "x.jpg"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--device cuda: CUDA is not available" in err


def test_device_rule():
    import torch

    from heatpose.device import check_device_name, describe_device, resolve_device

    auto = resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert auto.type == expected and "auto" in describe_device(auto, "auto")
    assert resolve_device("CPU").type == "cpu" and check_device_name("cuda:1") == "cuda:1"
    with pytest.raises(InputError, match="--device tpu"):
        check_device_name("tpu")


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch, capsys):
    import heatpose.commands.eval as eval_command

    def boom(args):
        raise ZeroDivisionError("something broke\nsecond line")

    monkeypatch.setattr(eval_command, "run", boom)
    assert main(["eval", "--ann", "a.json", "--pred", "b.json"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("heatpose eval: internal error: ZeroDivisionError: something broke "
                   "(run again with --debug for the traceback)")
    with pytest.raises(ZeroDivisionError):
        main(["eval", "--ann", "a.json", "--pred", "b.json", "--debug"])

    def ctrl_c(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(eval_command, "run", ctrl_c)
    assert main(["eval", "--ann", "a.json", "--pred", "b.json"]) == 130
    assert capsys.readouterr().err == "heatpose eval: interrupted\n"


def test_closed_pipe_ends_quietly():
    proc = subprocess.Popen([PY, "-m", "heatpose", "zoo", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()                       # `| head -c 10`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert err == "" and proc.returncode in (0, 141)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_lines_off_a_terminal_and_bar_on_one():
    log = io.StringIO()
    bar = ProgressBar(4, "images", stream=log, line_interval=3600)
    bar.update(1)                             # the first item is shown at once, with rate/ETA
    bar.update(2)                             # inside the interval: nothing new
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 2
    assert lines[0].startswith("images:  25.0% 1/4") and "ETA" in lines[0]
    assert lines[1].startswith("images:  75.0% 3/4")
    tty = _Tty()
    bar = ProgressBar(2, "frames", stream=tty)
    bar.update(1, status="loss 0.5")
    bar.close()
    assert tty.getvalue().count("\r") >= 2 and "[###" in tty.getvalue()
    assert "loss 0.5" in tty.getvalue() and tty.getvalue().endswith("\n")
