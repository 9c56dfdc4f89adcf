"""musiczoo_generate: sample MIDI files from a bundle (any family).

  musiczoo_generate --bundle=attention_rnn --num_outputs=4 --num_steps=128 --output_dir=out
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("bundle", None, "Bundle name (see bundles/) or path to a .mzb file.")
flags.DEFINE_string("output_dir", None, "Where the MIDI files are written.")
flags.DEFINE_integer("num_outputs", 10, "How many pieces to generate (one batch).")
flags.DEFINE_integer("num_steps", None, "Length of each piece in model steps, primer included "
                     "(RNNs: default 128; MusicVAE: its window, 32 or 256; Music Transformer: "
                     "16th-note steps for chorales, default 128, events for performances, "
                     "default 1024).")
flags.DEFINE_string("primer_melody", None, 'Melody primer, e.g. "[60, -2, 62]" '
                    "(pitch, -1 note off, -2 no event).")
flags.DEFINE_string("primer_drums", None, 'Drum primer, e.g. "[(36, 42), (), (42,)]".')
flags.DEFINE_string("primer_midi", None, "A MIDI file to continue.")
flags.DEFINE_integer("primer_bars", None, "Keep only the first N bars of --primer_midi "
                     "(verbatim) and generate the rest.")
flags.DEFINE_float("qpm", None, "Tempo of the output (default: the primer's, else 120).")
flags.DEFINE_float("temperature", 1.0, "Softmax temperature; <1 is more conservative.")
flags.DEFINE_integer("top_k", None, "Sample among the k most likely events only (0 or unset: "
                     "all).")
flags.DEFINE_integer("beam_size", 1, "Beam search width (1: plain sampling).")
flags.DEFINE_integer("branch_factor", 1, "Beam search branches per beam.")
flags.DEFINE_integer("steps_per_iteration", 1, "Beam search steps between prunings.")
flags.DEFINE_integer("seed", None, "Random seed: the same seed gives the same output.")
flags.DEFINE_bool("overwrite", False, "Write fixed names (<config>_001.mid, ...), replacing "
                  "files of an earlier run; default: names carry the run's date and time and "
                  "nothing is ever replaced.")
common.define_control_flags()
common.define_render_flags()
flags.mark_flags_as_required(["bundle", "output_dir"])

OPTIONS = ("num_steps", "primer_melody", "primer_drums", "primer_midi", "primer_bars", "qpm",
           "temperature", "top_k", "beam_size", "branch_factor", "steps_per_iteration", "seed",
           "overwrite")


def main():
    from musiczoo import commands
    paths = commands.generate(FLAGS.bundle, FLAGS.output_dir, num_outputs=FLAGS.num_outputs,
                              controls=common.controls_from_flags(),
                              **common.render_settings(),
                              **{name: FLAGS[name].value for name in OPTIONS})
    for path in paths:
        print(path)
    return 0


def run():
    common.run(main, "musiczoo_generate")


if __name__ == "__main__":
    run()
