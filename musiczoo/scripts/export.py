"""musiczoo_export: a musiczoo bundle -> a Magenta.js checkpoint folder.

  musiczoo_export --bundle=basic_rnn --format=magenta_js --output_dir=web/basic_rnn

Writes config.json (Magenta.js's MusicRNN spec), weights_manifest.json and
group1-shard*of* files, under Magenta's variable names, so `new mm.MusicRNN(url)` loads
it. Melody RNN and Drums RNN bundles export today.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("bundle", None, "Bundle name or path (.mzb, or any Magenta model).")
flags.DEFINE_enum("format", "magenta_js", ["magenta_js"], "What to write.")
flags.DEFINE_string("output_dir", None, "The folder to write.")
flags.DEFINE_bool("overwrite", False, "Replace an export already in --output_dir.")
flags.mark_flags_as_required(["bundle", "output_dir"])


def main():
    from musiczoo.bundles import load_bundle
    from musiczoo.interop.importer import export_magenta_js
    for path in export_magenta_js(load_bundle(FLAGS.bundle), FLAGS.output_dir,
                                  overwrite=FLAGS.overwrite):
        print(path)
    return 0


def run():
    common.run(main, "musiczoo_export")


if __name__ == "__main__":
    run()
