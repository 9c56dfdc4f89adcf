"""musiczoo_create_dataset: NoteSequences -> training/eval TFRecords for one config.

  musiczoo_create_dataset --config=basic_rnn --input=bach_chorales --output_dir=/tmp/ds
  musiczoo_create_dataset ... --runner=beam --pipeline_options="--runner=DirectRunner
      --direct_num_workers=2"
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
FEW_EXAMPLES = 100  # below this many, say in words why the input was dropped
common.define_model_flags(bundle=False)
flags.DEFINE_string("input", None, "A corpus name (bach_chorales, bach_soprano, folk_melodies, "
                    "mma_grooves, tfds:NAME), a folder of MIDI/MusicXML/ABC, a NoteSequence "
                    ".tfrecord or one music file; several joined by commas.")
flags.DEFINE_string("output_dir", None, "Where training_*.tfrecord, eval_*.tfrecord and "
                    "dataset.json are written.")
flags.DEFINE_float("eval_ratio", 0.1, "Fraction of sequences (by id) held out for eval.")
flags.DEFINE_bool("overwrite", False, "Replace a dataset already in --output_dir.")
flags.DEFINE_enum("runner", "local", ["local", "beam"], "local: this process; beam: the same "
                  "transforms as an Apache Beam pipeline (pip install 'musiczoo[beam]').")
flags.DEFINE_string("pipeline_options", None, "With --runner=beam: Beam's own command line, "
                    "passed unchanged, e.g. \"--runner=DirectRunner --direct_num_workers=2\" "
                    "(the default runner) or --runner=FlinkRunner/SparkRunner/DataflowRunner "
                    "with their options (BUILD.md).")
flags.DEFINE_integer("num_workers", None, "Processes reading the input files (default: all "
                     "cores); the output is the same for any number.", lower_bound=1)
flags.mark_flags_as_required(["config", "input", "output_dir"])


def main():
    from musiczoo import commands
    from musiczoo.pipelines.datasets import build as dataset, explain
    title = f"{FLAGS.config} dataset statistics"
    try:
        result = commands.create_dataset(FLAGS.config, FLAGS.input, FLAGS.output_dir,
                                         model=FLAGS.model, hparams=FLAGS.hparams,
                                         eval_ratio=FLAGS.eval_ratio, overwrite=FLAGS.overwrite,
                                         runner=FLAGS.runner,
                                         pipeline_options=FLAGS.pipeline_options,
                                         num_workers=FLAGS.num_workers)
    except dataset.NoExamplesError as error:
        print(error.stats.report(title))  # the whole story, then the one-line reason
        raise
    print(result.stats.report(title))
    for mode, path in result.paths.items():
        print(f"{mode}: {result.counts[mode]} examples -> {path}")
    if result.counts["training"] < FEW_EXAMPLES:
        reasons = explain.explain(result.stats, result.extractor)
        if reasons:
            print(f"only {result.counts['training']} training examples; dropped:")
            for line in reasons:
                print(f"  {line}")
    return 0


def run():
    common.run(main, "musiczoo_create_dataset")


if __name__ == "__main__":
    run()
