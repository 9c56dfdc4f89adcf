"""musiczoo_convert: a folder of MIDI/MusicXML/ABC files -> one TFRecord of NoteSequences.

Magenta's convert_dir_to_note_sequences, same output (Magenta can read ours, we read theirs):

  musiczoo_convert --input_dir=~/midi --output_file=/tmp/notesequences.tfrecord

Unreadable files are skipped, logged one line each, and counted per reason in the
statistics printed at the end.
"""
import os

from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_string("input_dir", None, "Folder of .mid/.midi/.kar, .xml/.mxl/.musicxml and "
                    ".abc files to convert.")
flags.DEFINE_string("output_file", None, "TFRecord file to write (an existing file is kept "
                    "unless --overwrite).")
flags.DEFINE_bool("recursive", True, "Also convert the files in subfolders.")
flags.DEFINE_bool("overwrite", False, "Replace --output_file if it exists.")
flags.mark_flags_as_required(["input_dir", "output_file"])


def main():
    from musiczoo import commands

    stats = commands.convert(os.path.expanduser(FLAGS.input_dir),
                             os.path.expanduser(FLAGS.output_file),
                             recursive=FLAGS.recursive, overwrite=FLAGS.overwrite)
    print(stats.report("conversion statistics"))
    print(f"{stats['sequences_written']} NoteSequences -> {FLAGS.output_file}")
    return 0


def run():
    common.run(main, "musiczoo_convert")


if __name__ == "__main__":
    run()
