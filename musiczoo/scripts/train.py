"""musiczoo_train: train any family on a create_dataset folder (or fine-tune a bundle).

  musiczoo_train --config=attention_rnn --dataset=/tmp/ds --run_dir=/tmp/run
  musiczoo_train --bundle=attention_rnn --dataset=/tmp/my_ds --run_dir=/tmp/finetune
  musiczoo_train --config=attention_rnn --run_dir=/tmp/run \
      --sequence_example_file=/tmp/melody_rnn/sequence_examples/training_melodies.tfrecord

  TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker",
  "index": 0}}' musiczoo_train --strategy=multi_worker --config=basic_rnn ...  (on host1;
  the same on host2 with "index": 1)

--sequence_example_file (Magenta's flag) trains on one TFRecord of SequenceExamples made
by Magenta's melody_rnn_create_dataset (or ours); an eval_*.tfrecord beside a
training_*.tfrecord is used for evaluation.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
common.define_model_flags(bundle=True)
flags.DEFINE_string("dataset", None, "Folder written by musiczoo_create_dataset (or by "
                    "Magenta's *_create_dataset).")
flags.DEFINE_string("sequence_example_file", None, "Magenta's flag: one TFRecord of "
                    "SequenceExamples to train on, instead of --dataset.")
flags.DEFINE_string("run_dir", None, "Checkpoints, TensorBoard logs and the final bundle go "
                    "here; an existing run resumes from its last checkpoint.")
flags.DEFINE_integer("num_training_steps", 1000, "Total training steps (resumed runs count "
                     "the steps already done).")
flags.DEFINE_integer("max_length", None, "Train on random windows of at most this many "
                     "steps (much faster on long examples); eval uses whole examples' heads.")
flags.DEFINE_integer("eval_every", 200, "Evaluate on the eval set every N steps (0: never).")
flags.DEFINE_integer("checkpoint_every", 100, "Write a checkpoint every N steps.")
flags.DEFINE_integer("seed", None, "Shuffling seed.")
flags.DEFINE_bool("overwrite", False, "Start --run_dir afresh (its checkpoints, logs, "
                  "run.json and metrics.json are removed), e.g. when it holds a run of "
                  "another config.")
flags.DEFINE_string("strategy", "default", "How training spreads over devices: default "
                    "(one device), mirrored (every GPU of this machine, "
                    "tf.distribute.MirroredStrategy) or multi_worker (one process per "
                    "machine, tf.distribute.MultiWorkerMirroredStrategy, the cluster and "
                    "this worker's task read from the TF_CONFIG environment variable). The "
                    "batch size (--hparams=batch_size) is the global batch, split across "
                    "all replicas; only the chief (task 0) writes into --run_dir.")
flags.mark_flags_as_required(["run_dir"])


def main():
    from musiczoo import commands
    given = [name for name in ("dataset", "sequence_example_file") if FLAGS[name].value]
    if len(given) != 1:
        raise ValueError("give --dataset (a create_dataset folder) or --sequence_example_file"
                         " (one TFRecord), one of them")
    result = commands.train(FLAGS[given[0]].value, FLAGS.run_dir, config=FLAGS.config,
                            model=FLAGS.model, hparams=FLAGS.hparams, bundle=FLAGS.bundle,
                            num_training_steps=FLAGS.num_training_steps,
                            max_length=FLAGS.max_length, eval_every=FLAGS.eval_every,
                            checkpoint_every=FLAGS.checkpoint_every, seed=FLAGS.seed,
                            overwrite=FLAGS.overwrite, strategy=FLAGS.strategy)
    print(result)
    return 0


def start_strategy():
    """A multi-worker strategy is made before TensorFlow's first op (tf.distribute
    requires it); the others need nothing early."""
    from musiczoo import distribute
    distribute.prepare(FLAGS.strategy)


def run():
    common.run(main, "musiczoo_train", before_tensorflow=start_strategy)


if __name__ == "__main__":
    run()
