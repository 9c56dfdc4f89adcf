"""musiczoo_generate: sample MIDI files from a bundle (any family).

  musiczoo_generate --bundle=attention_rnn --num_outputs=4 --num_steps=128 --output_dir=out
  musiczoo_generate --config=attention_rnn --bundle_file=attention_rnn.mag --output_dir=out
  musiczoo_generate --config=basic_rnn --run_dir=logdir/run1 --output_dir=out

--bundle (or Magenta's --bundle_file) takes a shipped name, a .mzb, or a Magenta model
you hold: a .mag, a TF checkpoint (with --config), a .tar holding one, a Magenta.js
folder. --run_dir generates from a training run's newest checkpoint, as Magenta did
(a Magenta run folder's train/ checkpoints, or a musiczoo run's bundle);
--save_generator_bundle writes that model to --bundle_file (.mzb) instead.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("bundle", None, "Bundle name (see bundles/), a .mzb file, or a Magenta "
                    "model (.mag, checkpoint, .tar, Magenta.js folder).")
flags.DEFINE_string("bundle_file", None, "Magenta's name for --bundle (a .mag works).")
flags.DEFINE_string("checkpoint_file", None, "music_vae_generate's name for --bundle (a "
                    "checkpoint or a .tar holding one; give --config).")
flags.DEFINE_enum("mode", "sample", ["sample", "interpolate"], "music_vae_generate's mode: "
                  "sample, or interpolate between --input_midi_1 and --input_midi_2.")
flags.DEFINE_string("input_midi_1", None, "With --mode=interpolate: the start of the path.")
flags.DEFINE_string("input_midi_2", None, "With --mode=interpolate: the end of the path.")
flags.DEFINE_string("config", None, "The config of a Magenta checkpoint or --run_dir that does "
                    "not name its own (a .mag does); checked against it otherwise.")
flags.DEFINE_string("hparams", "", "With a Magenta checkpoint: the hparams it was built with "
                    "(Magenta's names work: rnn_layer_sizes=[128,128]); checked against it.")
flags.DEFINE_string("run_dir", None, "Generate from a training run's newest checkpoint "
                    "(Magenta's logdir/run1, or a musiczoo_train --run_dir).")
flags.DEFINE_bool("save_generator_bundle", False, "With --run_dir: write the model to "
                  "--bundle_file (.mzb) instead of generating.")
flags.DEFINE_string("bundle_description", None, "With --save_generator_bundle: its "
                    "description.")
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
flags.DEFINE_float("notes_per_second", None, "Conditioned Performance RNN configs: the note "
                   "density to play at (Magenta's flag; default 15).")
flags.DEFINE_string("pitch_class_histogram", None, "Conditioned Performance RNN configs: 12 "
                    'relative weights C..B, e.g. "[2, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]".')
flags.DEFINE_bool("overwrite", False, "Write fixed names (<config>_001.mid, ...), replacing "
                  "files of an earlier run; default: names carry the run's date and time and "
                  "nothing is ever replaced.")
common.define_control_flags()
common.define_render_flags()

OPTIONS = ("num_steps", "primer_melody", "primer_drums", "primer_midi", "primer_bars", "qpm",
           "temperature", "top_k", "beam_size", "branch_factor", "steps_per_iteration", "seed",
           "overwrite", "notes_per_second", "pitch_class_histogram")


def model_source():
    """What --bundle / --bundle_file / --run_dir name (one of them)."""
    from musiczoo.interop.importer import run_dir_model
    given = [name for name in ("bundle", "bundle_file", "checkpoint_file", "run_dir")
             if FLAGS[name].value and not (name == "bundle_file" and FLAGS.save_generator_bundle)]
    if len(given) != 1:
        raise ValueError("give one of --bundle, --bundle_file, --checkpoint_file or --run_dir"
                         if not given else f"give one of {', '.join('--' + g for g in given)}")
    if given[0] == "run_dir":
        return run_dir_model(FLAGS.run_dir)
    return FLAGS[given[0]].value


def main():
    from musiczoo import commands
    source = model_source()
    if FLAGS.save_generator_bundle:
        if not FLAGS.bundle_file:
            raise ValueError("--save_generator_bundle writes --bundle_file: give it")
        path = commands.save_bundle_from(source, FLAGS.bundle_file, config=FLAGS.config,
                                         description=FLAGS.bundle_description,
                                         overwrite=FLAGS.overwrite)
        print(path)
        return 0
    if not FLAGS.output_dir:
        raise ValueError("give --output_dir (where the MIDI files are written)")
    if FLAGS.mode == "interpolate":
        if not (FLAGS.input_midi_1 and FLAGS.input_midi_2):
            raise ValueError("--mode=interpolate needs --input_midi_1 and --input_midi_2")
        paths = commands.interpolate(
            source, FLAGS.input_midi_1, FLAGS.input_midi_2, FLAGS.output_dir,
            num_outputs=FLAGS.num_outputs, config=FLAGS.config,
            temperature=FLAGS.temperature, seed=FLAGS.seed, overwrite=FLAGS.overwrite,
            **common.render_settings())
        for path in paths:
            print(path)
        return 0
    paths = commands.generate(source, FLAGS.output_dir, num_outputs=FLAGS.num_outputs,
                              config=FLAGS.config, hparams=FLAGS.hparams or None,
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
