"""musiczoo_create_dataset: NoteSequences -> training/eval TFRecords for one config.

  musiczoo_create_dataset --config=basic_rnn --input=bach_chorales --output_dir=/tmp/ds
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
common.define_model_flags(bundle=False)
flags.DEFINE_string("input", None, "A corpus name (bach_chorales, bach_soprano, folk_melodies, "
                    "mma_grooves, tfds:NAME), a folder of MIDI/MusicXML/ABC, a NoteSequence "
                    ".tfrecord or one music file; several joined by commas.")
flags.DEFINE_string("output_dir", None, "Where training_*.tfrecord, eval_*.tfrecord and "
                    "dataset.json are written.")
flags.DEFINE_float("eval_ratio", 0.1, "Fraction of sequences (by id) held out for eval.")
flags.mark_flags_as_required(["config", "input", "output_dir"])


def main():
    from musiczoo import commands
    result = commands.create_dataset(FLAGS.config, FLAGS.input, FLAGS.output_dir,
                                     model=FLAGS.model, hparams=FLAGS.hparams,
                                     eval_ratio=FLAGS.eval_ratio)
    print(result.stats.report(f"{FLAGS.config} dataset statistics"))
    for mode, path in result.paths.items():
        print(f"{mode}: {result.counts[mode]} examples -> {path}")
    return 0


def run():
    common.run(main, "musiczoo_create_dataset")


if __name__ == "__main__":
    run()
