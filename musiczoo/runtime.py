"""TensorFlow process settings every entry point wants, applied before TF is imported."""
import os


def quiet_tensorflow():
    """Hide TF's C++ start-up chatter (oneDNN, CUDA probing) unless the user asked for it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def configure_threads(threads=None):
    """Pin TF's intra/inter-op pools explicitly: left to itself on a small machine, TF
    was measured to run at random at half speed. Must run before TF executes an op."""
    import tensorflow as tf
    if not threads:
        threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # already initialised by earlier TF work in this process; keep its setting
    return threads
