"""The console scripts as a user runs them: real files in, clear one-line errors out."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_script(verb, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", f"musiczoo.scripts.{verb}", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_create_dataset_from_a_folder(tmp_path, chorale_paths):
    folder = tmp_path / "in"
    folder.mkdir()
    for path in chorale_paths[:6]:
        shutil.copy(path, folder)
    (folder / "broken.mid").write_text("not midi at all")
    out = tmp_path / "out"
    done = run_script("create_dataset", "--config=basic_rnn", f"--input={folder}",
                      f"--output_dir={out}", "--eval_ratio=0.2")
    assert done.returncode == 0, done.stderr
    assert "files_failed_not_midi" in done.stdout and "melodies_extracted" in done.stdout
    assert "Traceback" not in done.stderr and "broken.mid" in done.stderr
    assert (out / "training_melodies.tfrecord").stat().st_size > 0
    assert (out / "eval_melodies.tfrecord").exists() and (out / "dataset.json").exists()


@pytest.mark.parametrize("verb,args,message", [
    ("create_dataset", ["--input=x", "--output_dir=y"], "--config"),
    ("create_dataset", ["--config=basic_rn", "--input=bach_chorales", "--output_dir=y"],
     "did you mean 'basic_rnn'"),
    ("create_dataset", ["--config=basic_rnn", "--input=/no/such/place", "--output_dir=y"],
     "/no/such/place"),
    ("create_dataset", ["--config=basic_rnn", "--input=bach_chorales", "--output_dir=y",
                        "--hparams=min_bars=many"], "expected int"),
    ("create_dataset", ["--config=basic_rnn", "--input=bach_chorales", "--output_dir=y",
                        "--eval_ratio=1.5"], "eval_ratio"),
    ("generate", ["--bundle=no_such_bundle", "--output_dir=y"], "unknown bundle"),
    ("interpolate", ["--bundle=missing.mzb", "--input_midi_1=a.mid", "--input_midi_2=b.mid",
                     "--output_dir=y"], "no such bundle file"),
    ("train", ["--config=basic_rnn", "--dataset=/no/such/dataset", "--run_dir=y"],
     "no such dataset"),
    ("train", ["--dataset=x", "--run_dir=y", "stray"], "unexpected arguments"),
    ("generate", ["--bundle=basic_rnn", "--output_dir=y", "--num_steps=0"],
     "num_steps must be in 1..65536, got 0"),
    ("generate", ["--bundle=basic_rnn", "--output_dir=y", "--qpm=0"],
     "qpm must be a finite number > 0"),
    ("generate", ["--bundle=basic_rnn", "--output_dir=y", "--qpm=-120"],
     "qpm must be a finite number > 0"),
    ("generate", ["--bundle=basic_rnn", "--output_dir=y", "--num_outputs=0"],
     "num_outputs must be in 1..1024"),
    ("generate", ["--bundle=cat-drums_2bar_small", "--output_dir=y", "--qpm=nan"],
     "qpm must be a finite number > 0"),
    ("create_dataset", ["--config=basic_rnn", "--input=bach_chorales", "--output_dir=y",
                        "--hparams=steps_per_quarter=0"], "steps_per_quarter must be >= 1"),
])
def test_bad_flags_get_one_clear_line(verb, args, message, tmp_path):
    done = run_script(verb, *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$LOG"
if [ "$(basename "$0")" = python3 ] && [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && echo 'echo "activate" >> "$LOG"' > "$3/bin/activate"
fi
[ "$(basename "$0")" != pytest ] || exit "$PYTEST_STATUS"
"""


def test_ci_runs_the_readme_test_command(tmp_path):
    lines = (ROOT / "README.md").read_text().splitlines()
    marker = lines.index("<!-- ci: test command -->")
    assert lines[marker + 1] == "```bash" and lines[marker + 3] == "```"
    command = lines[marker + 2]                          # the README's one-line test command
    # .ci/run extracts that line from the README (its own awk) and would run it after
    # installing Debian's mma.
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--dry-run"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[:2] == [
        "+ apt-get update -qq && apt-get install -y -qq mma chromium chromium-driver "
        "planetblupi-music-midi",
        f"+ {command}"]
    # Then the non-editable install check: a fresh venv, `pip install .`, and the console
    # scripts run from another folder against a shipped bundle.
    [install_check] = printed[2:]
    for step in ('python3 -m venv "$tmp/venv"', '"$tmp/venv/bin/pip" install -q . ',
                 'cd "$tmp"', '"$tmp/venv/bin/musiczoo_bundles"',
                 '"$tmp/venv/bin/musiczoo_generate" --bundle=basic_rnn'):
        assert step in install_check, step
    assert "-e" not in install_check.split()
    # Run as .ci/run runs it (bash -euo pipefail -c), with python3, pip and pytest replaced
    # by recorders: it makes a venv, installs the package with its test extra (which holds
    # pytest), runs pytest, and fails when pytest fails.
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("python3", "pip", "pytest"):
        (fake / tool).write_text(FAKE_TOOL)
        (fake / tool).chmod(0o755)
    work = tmp_path / "checkout"
    work.mkdir()
    for status in (0, 3):
        log = tmp_path / f"log{status}"
        env = {"PATH": f"{fake}:/usr/bin:/bin", "LOG": str(log), "PYTEST_STATUS": str(status)}
        ran = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=work, env=env,
                             capture_output=True, text=True, timeout=60)
        assert ran.returncode == status, ran.stderr
        assert log.read_text().splitlines() == [
            "python3 -m venv .venv", "activate", "pip install -e .[test]", "pytest -q"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(r.startswith("pytest>=") for r in extras["test"])
