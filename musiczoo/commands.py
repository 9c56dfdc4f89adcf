"""The library side of the console scripts: one function per verb, shared by all families.

Scripts parse flags and call exactly one of these; tests call them directly. Model
work goes through the family's model class (registry), which says what it can do.
"""
import pathlib

from musiczoo import checks, outputs, registry
from musiczoo.bundles import load_bundle
from musiczoo.render import companions, render_options


def resolve_config(config=None, model=None, hparams=None):
    """(Family, config) from a config name (optionally checked against a family) plus
    `name=value,...` overrides."""
    if not config:
        raise registry.RegistryError("give --config (e.g. basic_rnn, drum_kit)")
    family, base = registry.find_config(config, model)
    return family, registry.apply_hparams(base, hparams)


RUNNERS = ("local", "beam")


def create_dataset(config, input, output_dir, *, model=None, hparams=None, eval_ratio=0.1,
                   progress=True, overwrite=False, runner="local", pipeline_options=None,
                   num_workers=None):
    """Turns `input` (corpus name, folder, NoteSequence TFRecord or file) into training and
    eval TFRecords for `config`; returns the DatasetResult (with statistics). Raises
    dataset.NoExamplesError (with the statistics and the reason) when nothing is kept.

    `runner="beam"` runs the same transforms as an Apache Beam pipeline, with
    `pipeline_options` (a Beam command line, e.g. "--runner=FlinkRunner ...", default
    the DirectRunner) passed to Beam unchanged; the files written are the same."""
    from musiczoo.pipelines.datasets import build as dataset
    from musiczoo.pipelines.readers.inputs import resolve_inputs

    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}: use one of {', '.join(RUNNERS)} (Beam's "
                         "own runners go in --pipeline_options, e.g. --runner=FlinkRunner)")
    if pipeline_options and runner != "beam":
        raise ValueError("--pipeline_options are Beam's: give them with --runner=beam")
    if runner == "beam":
        from musiczoo.pipelines.datasets import beam
        beam.require()  # before the model registry loads: say it in seconds
    _, cfg = resolve_config(config, model, hparams)
    if getattr(cfg, "optional_conditioning", False):
        raise registry.RegistryError(
            f"{cfg.name}: datasets for the optionally conditioned Performance RNN are not "
            "built yet; import its .mag to generate, or use "
            "multiconditioned_performance_with_dynamics")
    if runner == "beam":
        return beam.create_dataset(cfg.data_spec(), input, output_dir,
                                   options=pipeline_options, eval_ratio=eval_ratio,
                                   config_name=cfg.name, overwrite=overwrite)
    # MIDI straight to NoteArrays in worker processes (the same notes as note_seq's reader);
    # sustain pedals are applied to NoteSequences, so Performance RNN reads those.
    data_spec = cfg.data_spec()
    fast = not getattr(data_spec.extractor, "needs_sustain", False)
    sequences, total, description = resolve_inputs(input, fast=fast, num_workers=num_workers)
    return dataset.create_dataset(
        data_spec, sequences, output_dir, eval_ratio=eval_ratio, total=total,
        progress=progress, config_name=cfg.name, input_description=description,
        stats=sequences.stats, input_spec=str(input), overwrite=overwrite)


def convert(input_dir, output_file, *, recursive=True, progress=True, overwrite=False):
    """musiczoo_convert: every MIDI/MusicXML/ABC file under `input_dir` -> one TFRecord of
    NoteSequences (Magenta's convert_dir_to_note_sequences layout); returns the Stats
    (`sequences_written`, `files_failed_<reason>`, ...). An existing `output_file` is kept
    unless `overwrite`."""
    from musiczoo.pipelines.readers.files import convert_directory

    return convert_directory(input_dir, output_file, recursive=recursive, progress=progress,
                             overwrite=overwrite)


def _model_for(config=None, model=None, hparams=None, bundle=None):
    if bundle:
        loaded = load_bundle(bundle)
        if config or hparams:
            raise registry.RegistryError("give either --bundle or --config/--hparams, not both")
        return loaded
    family, cfg = resolve_config(config, model, hparams)
    return family.model_class().from_config(cfg)


def train(dataset_dir, run_dir, *, config=None, model=None, hparams=None, bundle=None,
          num_training_steps=1000, strategy="default", **options):
    """Trains (or, with `bundle`, fine-tunes) a model on a create_dataset folder. The
    dataset, the numbers and the strategy (with TF_CONFIG) are checked before any model
    is built. `strategy` "mirrored" or "multi_worker" trains through tf.distribute
    (musiczoo.distribute): the model is built in its scope, and only the chief writes
    into `run_dir`."""
    from musiczoo import distribute, training
    if not pathlib.Path(dataset_dir).exists():
        raise FileNotFoundError(f"{dataset_dir}: no such dataset (run musiczoo_create_dataset)")
    checks.integer("num_training_steps", num_training_steps, 1)
    for name in ("checkpoint_every", "eval_every", "max_length"):
        if options.get(name) is not None:
            checks.integer(name, options[name], 0 if name == "eval_every" else 1)
    training.dataset_examples(*training.dataset_files(dataset_dir))
    with distribute.distributed(strategy, run_dir) as dist:
        return _model_for(config, model, hparams, bundle).train(
            dataset_dir, dist.write_dir if dist else run_dir,
            num_training_steps=num_training_steps, **options)


def generate(bundle, output_dir, *, num_outputs=10, overwrite=False, wav=False,
             piano_roll=None, sample_rate=44100, config=None, hparams=None, **options):
    """Writes `num_outputs` MIDI files sampled from a bundle; returns their paths. Names
    carry the run's date and time unless `overwrite` (then <config>_001.mid, ...). With
    `wav` / `piano_roll` ("png" or "svg"; True means png) each MIDI gets <stem>.wav /
    <stem>.png beside it, the primer shaded in the picture; their paths follow the MIDI
    paths in the list returned. `bundle` may be a Magenta model (.mag, checkpoint, .tar,
    Magenta.js folder; `config` where it does not name its own)."""
    outputs.check_output_dir(output_dir)  # before the model loads: fail fast
    wav, roll, sample_rate = render_options(wav, piano_roll, sample_rate)
    loaded = load_bundle(bundle, config=config, hparams=hparams)
    paths = loaded.generate_to_midi(output_dir, num_outputs=num_outputs, overwrite=overwrite,
                                    **options)
    return paths + _companions(paths, wav, roll, sample_rate, overwrite,
                               getattr(loaded, "last_primer_seconds", None))


def save_bundle_from(source, path, *, config=None, description=None, overwrite=False):
    """Writes the model `source` names (a bundle, a Magenta model, a run's newest
    checkpoint) as a musiczoo bundle at `path` (.mzb); Magenta's --save_generator_bundle."""
    path = pathlib.Path(path)
    if path.suffix != ".mzb":
        raise ValueError(f"{path}: musiczoo writes .mzb bundles (a .mag cannot be written: "
                         "it would need a TF1 metagraph); name it .mzb")
    outputs.check_target(path, overwrite)
    loaded = load_bundle(source, config=config)
    if path.exists() and overwrite:
        path.unlink()
    loaded.save_bundle(path, description=description)
    return path


def _companions(paths, wav, roll, sample_rate, overwrite, marked_until=None):
    """The WAV / piano-roll files written beside `paths` (render.companions)."""
    if not (wav or roll):
        return []
    made = companions(paths, wav=wav, piano_roll_format=roll, sample_rate=sample_rate,
                      overwrite=overwrite, marked_until=marked_until)
    return [pathlib.Path(entry[kind]) for entry in made for kind in ("wav", "piano_roll")
            if entry[kind]]


def interpolate(bundle, input_midi_1, input_midi_2, output_dir, *, num_outputs=5,
                overwrite=False, wav=False, piano_roll=None, sample_rate=44100, config=None,
                **options):
    """Writes the latent-space path between two MIDI files (latent-space families only);
    `wav` / `piano_roll` as in generate."""
    wav, roll, sample_rate = render_options(wav, piano_roll, sample_rate)
    loaded = load_bundle(bundle, config=config)
    if "interpolate" not in getattr(loaded, "capabilities", ()):
        raise registry.RegistryError(
            f"bundle {bundle!r} ({type(loaded).__name__}) cannot interpolate: only families "
            "with a latent space (music_vae) can")
    outputs.check_output_dir(output_dir)
    paths = loaded.interpolate_to_midi(input_midi_1, input_midi_2, output_dir,
                                       num_outputs=num_outputs, overwrite=overwrite,
                                       **options)
    return paths + _companions(paths, wav, roll, sample_rate, overwrite)
