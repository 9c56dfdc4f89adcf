"""musiczoo_interpolate: the latent-space path between two melodies (latent families).

  musiczoo_interpolate --bundle=cat-mel_2bar_small --input_midi_1=a.mid --input_midi_2=b.mid \
      --num_outputs=5 --output_dir=out
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("bundle", None, "Bundle name or path; its family must have a latent space.")
flags.DEFINE_string("config", None, "The config of a Magenta checkpoint given as --bundle "
                    "(e.g. cat-mel_2bar_big).")
flags.DEFINE_string("input_midi_1", None, "Start of the path.")
flags.DEFINE_string("input_midi_2", None, "End of the path.")
flags.DEFINE_string("output_dir", None, "Where the MIDI files are written.")
flags.DEFINE_integer("num_outputs", 5, "Steps on the path, ends included.")
flags.DEFINE_float("temperature", 0.5, "Decoder temperature.")
flags.DEFINE_integer("seed", None, "Random seed: the same seed gives the same output.")
flags.DEFINE_string("select", "first", "Which window of a longer input to encode: first, "
                    "longest (the longest melody/track's first), or bar=N (the one starting at "
                    "bar N).")
flags.DEFINE_bool("overwrite", False, "Write fixed names, replacing files of an earlier run; "
                  "default: names carry the run's date and time.")
common.define_render_flags()
flags.mark_flags_as_required(["bundle", "input_midi_1", "input_midi_2", "output_dir"])


def main():
    from musiczoo import commands
    paths = commands.interpolate(FLAGS.bundle, FLAGS.input_midi_1, FLAGS.input_midi_2,
                                 FLAGS.output_dir, num_outputs=FLAGS.num_outputs,
                                 temperature=FLAGS.temperature, seed=FLAGS.seed,
                                 select=FLAGS.select, overwrite=FLAGS.overwrite,
                                 config=FLAGS.config,
                                 **common.render_settings())
    for path in paths:
        print(path)
    return 0


def run():
    common.run(main, "musiczoo_interpolate")


if __name__ == "__main__":
    run()
