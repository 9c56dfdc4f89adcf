"""musiczoo_compose: describe the music, get ranked variations (MIDI) and compose.json.

  musiczoo_compose --prompt="calm folk melody in D minor, 80 bpm, 16 bars, AABA, 3 variations" \
      --output_dir=out/song --seed=1
  musiczoo_compose --vary=out/song/variation_2.mid --output_dir=out/more   # more like it

Any control flag (--key, --bars, --density, ...) wins over the prompt. It prints what it
understood and ignored, then the ranking table; out/song/compose.json keeps every score
and every variation's seed.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("prompt", "", "What the music should be: style, key, tempo, bars, form, "
                    "instrument, mood, number of variations (see README 'Prompts').")
flags.DEFINE_string("output_dir", None, "Where variation_1.mid (the best) ... and "
                    "compose.json are written.")
flags.DEFINE_integer("seed", None, "Seed of the whole run (each variation's own seed is "
                     "written in compose.json).")
flags.DEFINE_integer("variations", None, "How many variations (default: the prompt's, else 4).")
flags.DEFINE_string("bundle", None, "Bundle to use instead of the one the prompt's style picks.")
flags.DEFINE_string("form", None, "Sections, e.g. AABA (default: the prompt's).")
flags.DEFINE_float("qpm", None, "Tempo in beats per minute.")
flags.DEFINE_float("temperature", None, "Sampling temperature (default: the prompt's mood, "
                   "else 1.0).")
flags.DEFINE_string("vary", None, "A variation written by musiczoo_compose: make more like it.")
flags.DEFINE_float("amount", 0.3, "With --vary on a MusicVAE: how far to move (std devs).")
flags.DEFINE_bool("overwrite", False, "Replace a composition already in --output_dir.")
common.define_control_flags()
common.define_render_flags()
flags.mark_flags_as_required(["output_dir"])


def main():
    from musiczoo.compose import compose as composer
    if FLAGS.vary:
        result = composer.vary(FLAGS.vary, FLAGS.output_dir, seed=FLAGS.seed,
                               num_variations=FLAGS.variations or 4, amount=FLAGS.amount,
                               overwrite=FLAGS.overwrite, **common.render_settings())
    else:
        overrides = common.control_settings()
        overrides["qpm"] = FLAGS.qpm
        result = composer.compose(FLAGS.prompt, FLAGS.output_dir, seed=FLAGS.seed,
                                  bundle=FLAGS.bundle, num_variations=FLAGS.variations,
                                  form=FLAGS.form, temperature=FLAGS.temperature,
                                  controls=overrides, overwrite=FLAGS.overwrite,
                                  **common.render_settings())
        print(result.plan.summary())
    print(f"bundle {result.plan.bundle}; controls {result.controls.as_dict()}")
    print(result.table())
    for variation in result.variations:
        shown = [str(p) for p in (variation.wav, variation.piano_roll) if p is not None]
        if shown:
            print(f"{variation.path.name}: " + ", ".join(shown))
    print(f"scores and seeds: {result.record_path}")
    return 0


def run():
    common.run(main, "musiczoo_compose")


if __name__ == "__main__":
    run()
