"""What every console script shares: flag groups, and errors as one clear line.

Only modules under musiczoo/scripts define absl flags; each script is its own process,
so defining a group here from several scripts never collides.
"""
import logging
import os
import sys

from absl import app, flags

from musiczoo import runtime

FLAGS = flags.FLAGS
# Magenta's scripts all took --log; so does every musiczoo script (pasted command lines).
flags.DEFINE_enum("log", "INFO", ["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL"],
                  "How much musiczoo logs (Magenta's --log).")


def define_model_flags(bundle=True):
    flags.DEFINE_string("model", None, "Model family (melody_rnn, drums_rnn, ...); optional "
                        "when --config names a config only one family has.")
    flags.DEFINE_string("config", None, "Config name, as in Magenta (basic_rnn, drum_kit, ...).")
    flags.DEFINE_string("hparams", "", "Config overrides: name=value,name=[a,b],...")
    if bundle:
        flags.DEFINE_string("bundle", None, "Bundle name (see bundles/) or path to a .mzb file.")


CONTROL_FLAGS = ("key", "scale", "pitch_set", "pitch_range", "bars", "time_signature",
                 "density", "instrument", "drums", "end_on_tonic", "harmonize_midi",
                 "attribute", "style", "instruments")


def define_control_flags():
    """The musical controls every family obeys (musiczoo.controls)."""
    flags.DEFINE_string("key", None, 'Key, e.g. "D minor", "F# dorian", "Bb major": only its '
                        "scale's notes, ending on the tonic.")
    flags.DEFINE_string("scale", None, "With --key: harmonic_minor, melodic_minor, "
                        "major_pentatonic, minor_pentatonic, blues, or a mode name.")
    flags.DEFINE_string("pitch_set", None, 'Only these pitch classes, e.g. "A,B,C#,F#,G".')
    flags.DEFINE_string("pitch_range", None, "Only pitches in low:high, e.g. 55:79 or G3:G5.")
    flags.DEFINE_integer("bars", None, "Exact length in bars (instead of --num_steps).")
    flags.DEFINE_string("time_signature", None, "e.g. 3/4 where the model's codec allows "
                        "it (default 4/4).")
    flags.DEFINE_string("density", None, "low, medium, high, or notes per bar (steered).")
    flags.DEFINE_string("instrument", None, "General MIDI instrument of every pitched track, "
                        "e.g. flute (drums stay on channel 10).")
    flags.DEFINE_string("drums", None, "Drum models: only these pieces, e.g. "
                        "kick,snare,closed_hihat.")
    flags.DEFINE_bool("end_on_tonic", True, "With --key: the last note is the tonic.")
    flags.DEFINE_string("harmonize_midi", None, "chorale_transformer: a melody the soprano "
                        "keeps note for note; alto, tenor and bass are written to it.")
    flags.DEFINE_string("attribute", None, "MusicVAE: move the latent code along attribute "
                        "vectors, e.g. density:+1.5,register:-1 (note_density, register, "
                        "pitch_range, syncopation).")
    flags.DEFINE_string("style", None, "Multi-instrument models: the style to play, e.g. rock, "
                        "swing, bossa_nova, waltz, chorale (musiczoo_bundles --card lists "
                        "a bundle's styles).")
    flags.DEFINE_string("instruments", None, "Multi-instrument models: the instruments that "
                        'play, e.g. "piano,bass,drums" (GM families or instrument names); '
                        "no other instrument plays.")


RENDER_FLAGS = ("wav", "piano_roll", "sample_rate")


def define_render_flags():
    """Audio and pictures beside every MIDI file written (musiczoo.render)."""
    flags.DEFINE_bool("wav", False, "Also write <name>.wav beside each MIDI file (General MIDI "
                      "sounds from pretty_midi's TimGM6mb.sf2, or FluidSynth when installed; "
                      "loudness normalised).")
    flags.DEFINE_bool("piano_roll", False, "Also write a piano-roll picture <name>.png beside "
                      "each MIDI file (bar lines, a colour per track, drums by name, the "
                      "primer shaded).")
    flags.DEFINE_enum("piano_roll_format", "png", ["png", "svg"], "Picture format of "
                      "--piano_roll (svg for web pages).")
    flags.DEFINE_integer("sample_rate", 44100, "Sample rate of --wav, in Hz (8000..192000).")


def render_settings():
    """The render flags as keywords of commands.generate / interpolate / compose."""
    return {"wav": FLAGS.wav, "sample_rate": FLAGS.sample_rate,
            "piano_roll": FLAGS.piano_roll_format if FLAGS.piano_roll else None}


def control_settings():
    """The control flags given, as Controls.parse keywords (end_on_tonic only if set)."""
    given = {name: FLAGS[name].value for name in CONTROL_FLAGS
             if name != "end_on_tonic" and FLAGS[name].value is not None}
    if "harmonize_midi" in given:
        given["harmonize"] = given.pop("harmonize_midi")
    if FLAGS["end_on_tonic"].present:
        given["end_on_tonic"] = FLAGS.end_on_tonic
    return given


def controls_from_flags():
    """Controls from the control flags, or None when none was given."""
    from musiczoo.controls import Controls
    given = control_settings()
    return Controls.parse(**given) if given else None


def user_errors():
    """Exceptions that are the user's input, shown as one line instead of a traceback
    (set MUSICZOO_DEBUG=1 to see the traceback anyway)."""
    from musiczoo.bundle import BundleError
    from musiczoo.registry import RegistryError
    # OSError covers the environment's answers (no such file, read-only, disk full); the
    # library raises OutputError / ReadError (ValueErrors) where it can name more.
    errors = [BundleError, RegistryError, OSError, ValueError]
    try:
        from musiczoo.pipelines.readers.errors import ReadError
        errors.append(ReadError)
    except ImportError:
        pass
    return tuple(errors)


def describe(error):
    """One line for a user error; OSErrors as '<file>: <what happened>'."""
    if isinstance(error, OSError) and not isinstance(error, ValueError) and error.filename:
        from musiczoo.outputs import describe_os_error
        return f"{error.filename}: {describe_os_error(error)}"
    return " ".join(str(error).split("\n")[:1]) if isinstance(error, OSError) else str(error)


HELP_ARGS = ("--help", "-help", "--helpshort", "-helpshort", "-h", "-?")


def run(main, name, arguments=False, before_tensorflow=None):
    """absl.app.run(main), turning user errors into `name: error: message` and exit 1.
    With `arguments`, main(argv[1:]) receives the words that are not flags (paths);
    otherwise any such word is an error. `before_tensorflow()` runs once the flags are
    parsed, before TensorFlow's first op (a multi-worker strategy must be made then).

    --help (-h, -?, --helpshort) prints usage.script_help and exits 0, TensorFlow not
    imported; TensorFlow then starts quietly (runtime.start_tensorflow) before main runs."""
    runtime.quiet_tensorflow()
    args = sys.argv[1:sys.argv.index("--")] if "--" in sys.argv else sys.argv[1:]
    if any(arg in HELP_ARGS for arg in args):
        from musiczoo.scripts import usage
        print(usage.script_help(sys.modules[main.__module__], sys.modules[__name__]))
        sys.exit(0)

    def guarded(argv):
        if len(argv) > 1 and not arguments:
            sys.stderr.write(f"{name}: error: unexpected arguments {argv[1:]} "
                             "(all options are --flags)\n")
            return 1
        level = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(FLAGS.log, FLAGS.log)
        logging.getLogger("musiczoo").setLevel(getattr(logging, level))
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(levelname)s %(message)s")
        try:
            if before_tensorflow is not None:
                before_tensorflow()
            runtime.start_tensorflow()
            return main(argv[1:]) if arguments else main()
        except user_errors() as error:
            if os.environ.get("MUSICZOO_DEBUG"):
                raise
            sys.stderr.write(f"{name}: error: {describe(error)}\n")
            return 1
        except KeyboardInterrupt:
            sys.stderr.write(f"{name}: interrupted\n")
            return 130

    def flag_errors_are_messages(argv):
        try:
            return FLAGS(argv)
        except flags.Error as error:
            sys.stderr.write(f"{name}: error: {error}\n"
                             f"Try {name} --help for its flags.\n")
            sys.exit(1)

    app.run(guarded, flags_parser=flag_errors_are_messages)
