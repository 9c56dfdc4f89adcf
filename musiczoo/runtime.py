"""TensorFlow process settings every entry point wants, applied before TF is imported."""
import contextlib
import logging
import os
import re
import sys
import tempfile

# TensorFlow's C++ start-up lines. They are written through absl before absl::InitializeLog()
# runs, so no environment variable (TF_CPP_MIN_LOG_LEVEL, ABSL_MIN_LOG_LEVEL, ...) hides them,
# and to a new user "E0000 ... failed call to cuInit" reads as an error. Matched on the
# message after the `file.cc:line]` prefix, which differs between TF versions.
STARTUP_NOISE = re.compile("|".join([
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"\.cc:\d+\] oneDNN custom operations are on\.",
    r"\.cc:\d+\] Could not find cuda drivers on your machine",
    r"\.cc:\d+\] failed call to cuInit",
    r"cuda_diagnostics\.cc:\d+\]",  # the driver versions it prints after cuInit fails
    r"\.cc:\d+\] This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate "
    r"compiler flags\.",
    r"\.cc:\d+\] Unable to register cu(DNN|FFT|BLAS) factory",
    r"\.cc:\d+\] TF-TRT Warning: Could not find TensorRT",
]))


def debugging():
    """MUSICZOO_DEBUG=1: show tracebacks and everything TensorFlow prints."""
    return bool(os.environ.get("MUSICZOO_DEBUG"))


def quiet_tensorflow():
    """Hide TF's C++ log lines below WARNING that env vars can hide (unless the user set it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def without_startup_noise(text):
    """`text` without the lines that are TensorFlow start-up noise (STARTUP_NOISE)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not STARTUP_NOISE.search(line))


@contextlib.contextmanager
def stderr_filtered(keep=without_startup_noise):
    """Captures what anything (C++ included) writes on file descriptor 2 inside the block,
    then writes back `keep(text)`: a filter, so real errors are never hidden."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to capture: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = keep(capture.read().decode(errors="replace"))
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


def start_tensorflow(threads=None):
    """Imports TensorFlow and Keras and starts TF's runtime (device probe, one op) with its
    start-up noise filtered out of stderr; the thread pools are pinned first, as
    configure_threads must run before TF executes an op. With MUSICZOO_DEBUG set this does
    nothing: TF starts on first use and prints what it likes."""
    quiet_tensorflow()
    if debugging():
        return
    with stderr_filtered():
        import tensorflow as tf
        import keras  # noqa: F401  (TF imports it too; kept so a change there stays quiet)
        configure_threads(threads)
        tf.config.list_physical_devices()  # probes CUDA: the cuInit line
        tf.reduce_sum(tf.ones(2))


def configure_threads(threads=None):
    """Pin TF's intra/inter-op pools explicitly: left to itself on a small machine, TF
    was measured to run at random at half speed. Must run before TF executes an op
    (start_tensorflow calls it in time; a later call with the same count is a no-op)."""
    import tensorflow as tf
    if not threads:
        threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TF already ran an op in this process: its pools are fixed. Fine when they are
        # already what we want; otherwise say so (it was measured to halve the speed).
        current = (tf.config.threading.get_intra_op_parallelism_threads(),
                   tf.config.threading.get_inter_op_parallelism_threads())
        if current != (threads, threads):
            logging.getLogger("musiczoo").warning(
                "TensorFlow already started with %s intra-op / %s inter-op threads (0 = its "
                "own choice), not %d: set them before any TensorFlow work "
                "(musiczoo.runtime.configure_threads) for full speed", *current, threads)
        return current[0] or threads
    return threads
