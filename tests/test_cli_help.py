"""The console scripts' --help, and their stderr kept free of TensorFlow's start-up noise."""
import os
import pathlib
import subprocess
import sys

import pytest

from musiczoo import runtime

ROOT = pathlib.Path(__file__).resolve().parent.parent
VERBS = ("create_dataset", "train", "generate", "interpolate", "convert", "import_", "export")
# One flag of each script's own, and one from musiczoo.scripts.common where it uses them.
OWN_FLAGS = {
    "create_dataset": ("--input", "--eval_ratio", "--config", "--hparams"),
    "train": ("--dataset", "--num_training_steps", "--config", "--bundle"),
    "generate": ("--bundle", "--num_steps", "--temperature", "--bundle_file", "--run_dir",
                 "--save_generator_bundle", "--wav", "--piano_roll"),
    "interpolate": ("--input_midi_1", "--select"),
    "convert": ("--input_dir", "--output_file", "recursive"),
    "import_": ("--input", "--output", "--config"),
    "export": ("--bundle", "--format", "--output_dir"),
}
NOISE_MARKS = ("cuInit", "oneDNN", "absl::InitializeLog", "cudart", "rebuild TensorFlow")


def python(*args, **env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("MUSICZOO_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    environ.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=environ, timeout=300, cwd=ROOT)


def entry_point(verb, *args, **env):
    """The script as its console entry point runs it: the main module is a stub, not the
    script's module (absl's own --help then shows no flags at all)."""
    code = (f"import sys; sys.argv = ['musiczoo_{verb}'] + sys.argv[1:]\n"
            f"from musiczoo.scripts.{verb} import run\n"
            "try:\n    run()\n"
            "finally:\n    print('tensorflow imported:', 'tensorflow' in sys.modules)\n")
    return python("-c", code, *args, **env)


@pytest.mark.parametrize("verb", VERBS)
def test_help_lists_the_scripts_own_flags_and_exits_0(verb):
    done = entry_point(verb, "--help")
    assert done.returncode == 0, done.stderr
    assert f"musiczoo_{verb.rstrip('_')}" in done.stdout  # the docstring: usage, an example
    for flag in OWN_FLAGS[verb]:
        assert flag in done.stdout
    assert "tensorflow imported: False" in done.stdout
    assert "--helpfull" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("spelling", ["--helpshort", "-h", "-?"])
def test_help_spellings_under_python_m(spelling):
    done = python("-m", "musiczoo.scripts.interpolate", spelling)
    assert done.returncode == 0, done.stderr
    assert "--input_midi_1" in done.stdout and "--bundle" in done.stdout
    assert "(required)" in done.stdout  # interpolate's --bundle, --input_midi_1, ...


def test_helpfull_is_still_absls():
    done = python("-m", "musiczoo.scripts.generate", "--helpfull")
    assert "--num_steps" in done.stdout and "--flagfile" in done.stdout


def test_a_real_command_prints_no_tensorflow_startup_lines(tmp_path):
    args = ("-m", "musiczoo.scripts.generate", "--bundle=basic_rnn", "--num_outputs=1",
            "--num_steps=16", f"--output_dir={tmp_path / 'out'}")
    done = python(*args)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "out").glob("*.mid"))
    for mark in NOISE_MARKS + ("ffmpeg",):
        assert mark not in done.stderr, done.stderr
    debug = python(*args[:-1], f"--output_dir={tmp_path / 'debug'}", MUSICZOO_DEBUG="1")
    assert debug.returncode == 0, debug.stderr  # unfiltered: what TF prints is TF's business
    assert list((tmp_path / "debug").glob("*.mid"))


def test_the_filter_keeps_real_lines():
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\n"
            "I0000 00:00:1796155816.742246    4134 port.cc:153] oneDNN custom operations are "
            "on. You may see slightly different numerical results.\n"
            "I0000 00:00:1796155816.743205    4134 cudart_stub.cc:31] Could not find cuda "
            "drivers on your machine, GPU will not be used.\n"
            "E0000 00:00:1796155817.991210    4134 cuda_platform.cc:52] failed call to cuInit: "
            "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
            "I0000 00:00:1796155817.991210    4134 cpu_feature_guard.cc:210] This TensorFlow "
            "binary is optimized to use available CPU instructions in performance-critical "
            "operations.\n"
            "To enable the following instructions: AVX2 AVX512F FMA, in other operations, "
            "rebuild TensorFlow with the appropriate compiler flags.\n"
            "E0000 00:00:1796155818.000000    4134 op_kernel.cc:1857] OP_REQUIRES failed: "
            "out of disk space\n"
            "ImportError: libfoo.so: cannot open shared object file\n")
    kept = runtime.without_startup_noise(text)
    assert kept == ("E0000 00:00:1796155818.000000    4134 op_kernel.cc:1857] OP_REQUIRES "
                    "failed: out of disk space\n"
                    "ImportError: libfoo.so: cannot open shared object file\n")


def test_a_real_error_written_in_the_quiet_window_reaches_stderr():
    code = ("import os, sys\n"
            "from musiczoo import runtime\n"
            "with runtime.stderr_filtered():\n"
            "    os.write(2, b'E0000 00:00:1.0  1 cuda_platform.cc:52] failed call to cuInit\\n')\n"
            "    os.write(2, b'a real C++ error\\n')\n"
            "    sys.stderr.write('a real Python warning\\n')\n"
            "sys.stderr.write('after the window\\n')\n")
    done = python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "a real C++ error\na real Python warning\nafter the window\n"


def test_threads_are_pinned_by_the_quiet_start():
    code = ("import os\n"
            "from musiczoo import runtime\n"
            "runtime.start_tensorflow(threads=3)\n"
            "import tensorflow as tf\n"
            "runtime.configure_threads(3)  # what model code calls later: still fine\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),\n"
            "      tf.config.threading.get_inter_op_parallelism_threads())\n")
    done = python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3"]
    for mark in NOISE_MARKS:
        assert mark not in done.stderr


def test_threads_that_cannot_be_set_any_more_are_reported():
    code = ("import logging, tensorflow as tf\n"
            "logging.basicConfig()\n"
            "tf.reduce_sum(tf.ones(2))  # TF starts with its own thread pools\n"
            "from musiczoo import runtime\n"
            "print(runtime.configure_threads(2))\n")
    done = python("-c", code)
    assert done.returncode == 0, done.stderr
    assert "TensorFlow already started with 0 intra-op / 0 inter-op threads" in done.stderr
