"""The one skeleton every model family stands on: config -> codec + Keras network,
bundles in and out, training on a create_dataset folder, generating to MIDI files, and
the list of what the family can do.

A family supplies only what is its own:
    build_model()                     its Keras network
    training_options(max_length, seed) what train_model needs beyond the shared numbers
                                      (learning-rate schedule, objective, crops, ...)
    generate(num_outputs, num_steps, *, primer, ...) -> NoteSequences, through
    sampler(...) / sampling_functions(variant): its step, input and resolve functions
    score_ids(rows)                   teacher-forced scores (golden records)
and says which CLI primers and sampling options apply (`primer_flags`, `beam_search`).
"""
import datetime
import pathlib

from musiczoo import bundles, checks
from musiczoo.pipelines.writers import write_midi_files

PRIMER_FLAGS = ("primer_melody", "primer_drums", "primer_midi")
BEAM_OPTIONS = ("beam_size", "branch_factor", "steps_per_iteration")

# Bounds on one generation call: the batch and its history live in memory at once.
MAX_OUTPUTS = 1024
MAX_QPM = 1000.0


def check_generation(num_outputs, num_steps=None, qpm=None, max_steps=None):
    """(num_outputs, num_steps or None, qpm or None) checked: clear errors for 0, negative,
    fractional, absurdly large or non-finite values instead of silent defaults."""
    num_outputs = checks.integer("num_outputs", num_outputs, 1, MAX_OUTPUTS)
    num_steps = checks.optional_integer("num_steps", num_steps, 1, max_steps)
    qpm = checks.optional_positive_number("qpm", qpm, MAX_QPM)
    return num_outputs, num_steps, qpm


def report_compliance(sequences, controls):
    """Measures every output against the controls (on the decoded NoteSequence) and logs
    one line; returns the reports."""
    import logging

    from musiczoo.controls import compliance
    reports = [compliance.measure(sequence, controls) for sequence in sequences]
    checks = sorted({name for report in reports for name in report["checks"]})
    good = sum(report["compliant"] for report in reports)
    failed = sorted({name for report in reports for name, ok in report["checks"].items()
                     if not ok})
    logging.getLogger("musiczoo").info(
        "controls: %d of %d outputs obey every control (%s)%s", good, len(reports),
        ", ".join(checks) or "nothing to check",
        f"; broken: {', '.join(failed)}" if failed else "")
    return reports


def steps_from_bars(controls, num_steps, steps_per_bar, max_steps=None):
    """num_steps for `controls.bars` bars (refusing a different explicit num_steps)."""
    from musiczoo.controls import ControlError
    if controls.bars is None:
        return num_steps
    steps = controls.bars * steps_per_bar
    if num_steps is not None and num_steps != steps:
        raise ControlError(f"--bars={controls.bars} is {steps} steps; --num_steps={num_steps} "
                           "says otherwise: give one of them")
    if max_steps is not None and steps > max_steps:
        raise ControlError(f"--bars={controls.bars} is {steps} steps, more than the "
                           f"{max_steps} this model generates at once")
    return steps


CONDITIONING_FLAGS = ("notes_per_second", "pitch_class_histogram")


class BundledModel:
    """A family's model: `config`, `codec`, Keras `model`, `metadata`. Subclasses set
    `family` and `capabilities` and implement the hooks named in the module docstring."""

    family = None              # registry name, set by subclasses
    capabilities = ("generate",)
    primer_flags = ()          # the CLI primers that apply, e.g. ("primer_melody", "primer_midi")
    no_primer_hint = ""        # what to say when a primer is given where none applies
    beam_search = True         # whether beam_size / branch_factor / steps_per_iteration apply
    conditioning_flags = ()    # generation options a config conditions on (Performance RNN)

    def __init__(self, config, model=None, metadata=None):
        self.config = config
        self.codec = config.codec()
        self.metadata = dict(metadata or {})
        self.model = model or self.build_model()
        self._samplers = {}
        #: Seconds of the last generate()'s outputs that are the primer given (None: no
        #: primer was given), for pictures that mark it.
        self.last_primer_seconds = None
        #: The controls the last generate() obeyed, where the family filled some in.
        self.last_controls = None

    def build_model(self):
        raise NotImplementedError

    # -- training -------------------------------------------------------------------------

    def training_options(self, max_length=None, seed=None):
        """The family's train_model keywords (input_size, no_event_id, learning_rate,
        clip_norm, and any of metrics_fn, max_length, shuffle_buffer, crops)."""
        raise NotImplementedError

    def train(self, dataset_dir, run_dir, *, num_training_steps=1000, eval_every=200,
              checkpoint_every=100, batch_size=None, seed=None, progress=True,
              training_data=None, max_length=None, overwrite=False):
        """Trains to `num_training_steps` (resuming from run_dir, which must belong to this
        config unless `overwrite`), then writes run_dir/<config>.mzb with the eval
        metrics. Returns the metrics dict."""
        from musiczoo import training
        info = self.check_dataset(dataset_dir)
        metrics = training.train_model(
            self.model, dataset_dir, run_dir, batch_size=batch_size or self.config.batch_size,
            num_training_steps=num_training_steps, eval_every=eval_every,
            checkpoint_every=checkpoint_every, seed=seed, progress=progress,
            identity=self.run_identity(), overwrite=overwrite,
            **self.training_options(max_length=max_length, seed=seed))
        self.record_training(metrics, info, dataset_dir, training_data)
        self.save_bundle(self.run_bundle_path(run_dir))
        return metrics

    # -- generation -----------------------------------------------------------------------

    def sampling_functions(self, variant="default"):
        """(step_fn, input_fn, resolve_fn) for musiczoo.sampling (family hook)."""
        raise NotImplementedError

    def sampler(self, variant="default"):
        """This model's sampling.Sampler for `variant` (made once: its compiled loops are
        reused by every call and go when the model goes), with the controls' bias."""
        if variant not in self._samplers:
            from musiczoo import sampling
            from musiczoo.controls import masks
            self._samplers[variant] = sampling.Sampler(
                *self.sampling_functions(variant),
                bias_fn=masks.make_bias_fn(self.control_space()))
        return self._samplers[variant]

    def _primer_head(self, primer, bars):
        """Only the first `bars` bars of a --primer_midi: kept verbatim, the rest made."""
        from musiczoo.compose.form import head
        from musiczoo.models.events_rnn import primers
        if "primer_midi" not in primer:
            raise ValueError("--primer_bars keeps the first bars of a --primer_midi file: give "
                             "one")
        bars = checks.integer("primer_bars", bars, 1)
        sequence = primers.read_primer_sequence(primer["primer_midi"])
        return {"primer_midi": head(sequence, bars)}

    # -- controls -------------------------------------------------------------------------

    meters = ((4, 4),)  # the time signatures this family's codec can write

    def control_space(self):
        """What this family's classes mean to controls (controls.masks.ControlSpace)."""
        raise NotImplementedError

    def steps_per_bar(self, controls=None, steps_per_quarter=None):
        """Steps of one bar in the controls' meter, refusing a meter the codec cannot
        write."""
        from musiczoo.controls import ControlError
        meter = tuple(controls.time_signature) if controls is not None else (4, 4)
        if meter not in self.meters:
            raise ControlError(f"{self.config.name} writes "
                               f"{' or '.join('/'.join(map(str, m)) for m in self.meters)} "
                               f"only, not {'/'.join(map(str, meter))}")
        steps = (steps_per_quarter or self.config.steps_per_quarter) * 4 * meter[0] / meter[1]
        if steps != int(steps):
            raise ControlError(f"a {'/'.join(map(str, meter))} bar is not a whole number of "
                               f"{self.config.name}'s steps")
        return int(steps)

    def check_controls(self, controls):
        """Refuses, before sampling, controls this family cannot obey."""
        from musiczoo.controls import ControlError
        kind = self.control_space().kind
        name = self.config.name
        if controls.drums is not None and kind != "drums":
            raise ControlError(f"--drums applies to drum models; {name} plays pitches")
        if kind == "drums":
            if controls.pitch_classes() is not None or controls.pitch_range is not None:
                raise ControlError(f"{name} plays drums: key, pitch set and pitch range "
                                   "do not apply (use --drums)")
            if controls.instrument is not None:
                raise ControlError(f"{name} plays drums, which stay on channel 10: "
                                   "--instrument does not apply")
        if controls.attributes and self.family != "music_vae":
            raise ControlError(f"--attribute applies to MusicVAE bundles (a latent space); "
                               f"{name} has none")
        if controls.harmonize is not None and kind != "chorale":
            raise ControlError(f"--harmonize_midi applies to chorale models; {name} does not "
                               "write voices")

    def finish_output(self, sequence, controls, seconds=None):
        """Writes the controls that live in the file: the whole length, the meter, the
        instrument of every pitched note."""
        if seconds is not None:
            sequence.total_time = max(sequence.total_time, seconds)
        if controls is None:
            return sequence
        if controls.time_signature != (4, 4) or controls.bars is not None:
            del sequence.time_signatures[:]
            sequence.time_signatures.add(time=0.0, numerator=controls.time_signature[0],
                                         denominator=controls.time_signature[1])
        if controls.instrument is not None:
            for note in sequence.notes:
                if not note.is_drum:
                    note.program = controls.instrument
        return sequence

    def generate_to_midi(self, output_dir, num_outputs=10, overwrite=False, **options):
        """musiczoo_generate: one MIDI file per output, <config>_<run>_<n>.mid (with
        `overwrite`: <config>_<n>.mid, replaced); returns the paths. Options left None
        take the family's defaults; primers and beam settings that do not apply to this
        family are refused by name."""
        options = {k: v for k, v in options.items() if v is not None}
        for name in CONDITIONING_FLAGS:
            if name in options and name not in self.conditioning_flags:
                raise ValueError(f"--{name} applies to Magenta's conditioned Performance RNN "
                                 f"configs (e.g. multiconditioned_performance_with_dynamics), "
                                 f"not {self.config.name}")
        primer_bars = options.pop("primer_bars", None)
        primer = {k: options.pop(k) for k in PRIMER_FLAGS if k in options}
        if primer_bars is not None:
            primer = self._primer_head(primer, primer_bars)
        refused = sorted(k for k in primer if k not in self.primer_flags)
        if refused:
            hint = self.no_primer_hint or ("use " + " or ".join(
                f"--{k}" for k in self.primer_flags))
            raise ValueError(f"{', '.join('--' + k for k in refused)} does not apply to "
                             f"{self.config.name}: {hint}")
        if len(primer) > 1:
            raise ValueError(f"give one primer, not {', '.join(sorted(primer))}")
        if not self.beam_search:
            given = sorted(k for k in BEAM_OPTIONS if options.pop(k, 1) != 1)
            if given:
                raise ValueError(f"beam search ({', '.join('--' + k for k in given)}) does "
                                 f"not apply to {type(self).__name__} sampling")
        self.last_controls = None
        sequences = self.generate(num_outputs, primer=primer or None, **options)
        # A family that fills in what was not asked (a style's meter) says what it obeyed.
        controls = self.last_controls or options.get("controls")
        if controls is not None:
            report_compliance(sequences, controls)
        return write_midi_files(sequences, output_dir, self.config.name,
                                overwrite=overwrite)

    @classmethod
    def from_config(cls, config):
        return cls(config)

    @classmethod
    def from_bundle(cls, contents, path="<bundle>"):
        from musiczoo.bundle import BundleError
        config, codec = bundles.model_parts(contents, path)
        if codec != config.codec():
            raise BundleError(path, "bad_header", f"the bundle's codec {codec!r} differs from "
                                                  f"what its config builds ({config.codec()!r})")
        instance = cls(config, metadata=contents.metadata)
        bundles.restore_weights(instance.model, contents, path)
        instance.bundle_path = pathlib.Path(path)
        return instance

    def check_dataset(self, dataset_dir):
        """The dataset's info (dataset.json) after checking it was built for this codec."""
        from musiczoo import training
        files, info = training.dataset_files(dataset_dir)
        if not info and hasattr(self.codec, "input_size"):  # Magenta-made: check the width
            width = training.example_input_width(files["training"])
            if width is not None and width != self.codec.input_size:
                raise ValueError(f"{files['training']}: its examples have {width} inputs per "
                                 f"step; {self.config.name} takes {self.codec.input_size} (made "
                                 "for another config? pass the --config it was made for)")
        if info and info.get("codec") != self.codec.get_config():
            raise ValueError(f"{dataset_dir} was built for {info.get('config')} "
                             f"({info.get('codec')}); this model's codec is {self.codec!r}: "
                             f"rebuild it with --config={self.config.name}")
        return info or {}

    def record_training(self, metrics, info, dataset_dir, training_data=None):
        """Stores what a run trained on and reached in the metadata, for the bundle."""
        self.metadata.update(
            training_data=training_data or info.get("input") or str(dataset_dir),
            dataset={"input_spec": info.get("input_spec"), "eval_ratio": info.get("eval_ratio"),
                     "examples": info.get("examples")},
            steps=metrics["step"],
            train_metrics={k: v for k, v in metrics.items()
                           if k not in ("step", "seconds") and not k.startswith("eval_")},
            eval_metrics={k[len("eval_"):]: v for k, v in metrics.items() if k.startswith("eval_")},
            examples=info.get("examples"))

    def run_identity(self):
        """What a run folder records to refuse being resumed by another config."""
        from musiczoo import registry
        return {"family": self.family, "config": registry.config_to_dict(self.config),
                "codec": self.codec.get_config()}

    def run_bundle_path(self, run_dir):
        """run_dir/<config name>.mzb, the name made safe (a bundle's name is data)."""
        from musiczoo import outputs
        return outputs.inside(pathlib.Path(run_dir),
                              outputs.safe_name(self.config.name, self.family) + ".mzb")

    def save_bundle(self, path, description=None):
        metadata = dict(self.metadata)
        metadata.setdefault("description", description or self.config.description)
        metadata["saved"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return bundles.save_model_bundle(path, family=self.family, config=self.config,
                                         codec=self.codec, model=self.model, metadata=metadata)
