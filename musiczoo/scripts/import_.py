"""musiczoo_import: a Magenta model you hold -> a musiczoo bundle (.mzb), once.

  musiczoo_import --input=attention_rnn.mag --output=attention_rnn.mzb
  musiczoo_import --input=logdir/run1/train --config=basic_rnn --output=mine.mzb
  musiczoo_import --input=magentajs/basic_rnn/ --output=basic_rnn_js.mzb

--input takes a Magenta .mag bundle (its generator id names the config), a TF checkpoint
(a prefix such as model.ckpt-20000, its .index, a folder with a 'checkpoint' file, or a
.tar holding one; these need --config) or a Magenta.js checkpoint folder. Nothing in the
file is executed: the .mag's metagraph is never read. Melody RNN (basic_rnn, mono_rnn,
lookback_rnn, attention_rnn) and Drums RNN (one_drum, drum_kit) import today.
musiczoo_generate --bundle=FILE also takes these files directly, without converting.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "The Magenta model: .mag, checkpoint, .tar or Magenta.js "
                    "folder.")
flags.DEFINE_string("output", None, "The musiczoo bundle to write (.mzb).")
flags.DEFINE_string("config", None, "The config it was trained with, where the file does not "
                    "say (a bare checkpoint), e.g. attention_rnn.")
flags.DEFINE_bool("overwrite", False, "Replace --output if it exists.")
flags.mark_flags_as_required(["input", "output"])


def main():
    import pathlib

    from musiczoo import outputs
    from musiczoo.interop.importer import import_model
    target = pathlib.Path(FLAGS.output)
    if target.suffix != ".mzb":
        raise ValueError(f"{target}: musiczoo bundles end in .mzb")
    outputs.check_target(target, FLAGS.overwrite)
    model = import_model(FLAGS.input, config=FLAGS.config)
    if target.exists() and FLAGS.overwrite:
        target.unlink()
    model.save_bundle(target)
    source = model.metadata["imported_from"]
    print(f"{target}: {model.config.name} ({model.family}, layers "
          f"{list(model.config.layer_sizes)}) from {source['container']} {source['path']}")
    return 0


def run():
    common.run(main, "musiczoo_import")


if __name__ == "__main__":
    run()
