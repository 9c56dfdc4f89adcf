"""NoteSequences -> training and eval TFRecords for one model config, with statistics.

The orchestration of Magenta's `<model>_create_dataset`: partition by id, optional
sustain, transforms (augmentation on the training side only), batched extraction,
codec, SequenceExample files. A sequence whose data a stage cannot use (SequenceError) is
counted, named in the log and skipped; the rest of the run and its outputs are
unaffected. Any other exception is a bug and ends the run, leaving no partial files.
"""
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pathlib
from typing import Optional

from musiczoo import outputs
from musiczoo.pipelines.codecs.base import Codec
from musiczoo.pipelines.datasets import explain, tfrecord
from musiczoo.pipelines.extract import notearrays, performances, transforms
from musiczoo.pipelines.stats import SequenceError, Stats
from musiczoo.progress import Progress

log = logging.getLogger("musiczoo")

MODES = ("training", "eval")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Everything that turns NoteSequences into examples for one config."""
    extractor: object                 # MelodyExtractor | DrumExtractor | PerformanceExtractor
    codec: Codec
    # Applied to training sequences only (e.g. transposition / time-stretch augmentation).
    train_transforms: tuple = ()
    # Applied to both sides (e.g. splitting long pieces).
    transforms: tuple = ()


@dataclasses.dataclass
class DatasetResult:
    paths: dict          # mode -> pathlib.Path
    counts: dict         # mode -> examples written
    stats: Stats
    info_path: pathlib.Path
    extractor: object = None  # what made the examples (its fields explain the drops)


class NoExamplesError(ValueError):
    """create_dataset kept no training examples; `stats` says what happened to the input."""

    def __init__(self, message, stats):
        super().__init__(message)
        self.stats = stats


def _to_arrays(sequence, spec):
    """A NoteSequence (or the NoteArrays the fast MIDI reader already made) as NoteArrays."""
    if isinstance(sequence, notearrays.NoteArrays):
        if getattr(spec.extractor, "needs_sustain", False):
            raise ValueError("sustain needs the NoteSequence: read the input with fast=False")
        return sequence
    if getattr(spec.extractor, "needs_sustain", False):
        sequence = performances.apply_sustain(sequence)
    return notearrays.from_note_sequence(sequence)


def mode_of(sequence, eval_ratio):
    """"eval" or "training" for one sequence: the split by id (transforms.is_eval)."""
    return "eval" if transforms.is_eval(sequence.id or sequence.filename, eval_ratio) \
        else "training"


def mode_transform(spec, train):
    """The transform one mode's sequences go through (None: none): `spec.transforms`, plus
    `spec.train_transforms` (augmentation) on the training side only."""
    steps = list(spec.transforms) + (list(spec.train_transforms) if train else [])
    return transforms.compose(*steps) if steps else None


def encode_examples(spec, batch, stats):
    """[(inputs, labels)] of a batch of transformed NoteArrays: batched extraction, then
    the codec. A sequence a stage cannot use is counted and skipped, the others kept.
    Shared by the local run and the Beam pipeline (datasets/beam.py)."""
    try:
        extracted = spec.extractor.extract(batch, stats)
    except SequenceError:  # one sequence's data: find it, count it, keep the others
        extracted = []
        for arrays in batch:
            try:
                extracted.extend(spec.extractor.extract([arrays], stats))
            except SequenceError as error:
                name = arrays.filename or arrays.id
                log.warning("skipped %s: %s", name, error)
                stats.count(f"sequences_failed_{error.reason}")
    try:
        return spec.codec.encode_batch([events for _, events in extracted])
    except ValueError:  # one bad sequence: find it, keep the others
        encoded = []
        for _, events in extracted:
            try:
                encoded.append(spec.codec.encode(events))
            except ValueError:  # codecs raise ValueError for events outside their range
                stats.count("events_not_encodable")
        return encoded


class _ModeWriter:
    """Batches sequences of one mode through extraction and writes their examples."""

    def __init__(self, spec, path, stats, batch_size, train):
        self.spec, self.stats, self.batch_size = spec, stats, batch_size
        self.writer = tfrecord.ExampleWriter(path)
        self.transform = mode_transform(spec, train)
        self.pending = []
        # Digests of the examples written, when eval must exclude training's examples:
        # a set on the training side, one per record in order on the eval side.
        self.keys = None
        if getattr(spec.extractor, "eval_excludes_training", False):
            self.keys = set() if train else []

    def add(self, arrays):
        items = self.transform(arrays, self.stats) if self.transform else [arrays]
        self.pending.extend(items)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self):
        batch, self.pending = self.pending, []
        if not batch:
            return
        for inputs, labels in encode_examples(self.spec, batch, self.stats):
            self.writer.write(inputs, labels)
            if self.keys is not None:
                key = _example_key(inputs, labels)
                self.keys.add(key) if isinstance(self.keys, set) else self.keys.append(key)

    def close(self):
        self.flush()
        self.writer.close()


def _example_key(inputs, labels):
    """A digest of one example's exact contents (its event sequence, as encoded)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (inputs, labels):
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.digest()


def _drop_eval_duplicates(eval_path, eval_keys, training_keys):
    """Rewrites the eval file without the examples equal to a training example; returns how
    many it dropped. Streams: it re-reads the eval file record by record, and only when a
    duplicate exists (training examples may come after the eval ones in the input)."""
    drop = [key in training_keys for key in eval_keys]
    if not any(drop):
        return 0
    import tensorflow as tf  # Deferred: importing TensorFlow takes seconds.

    eval_path = pathlib.Path(eval_path)
    kept_path = eval_path.with_name(eval_path.name + ".dedupe")
    writer = tfrecord.ExampleWriter(kept_path)
    try:
        for record, dropped in zip(tf.data.TFRecordDataset(str(eval_path)), drop):
            if not dropped:
                writer.write_serialized(record.numpy())
    finally:
        writer.close()
    os.replace(kept_path, eval_path)
    return sum(drop)


def existing_dataset(output_dir):
    """The dataset files already in `output_dir` (dataset.json, *_*.tfrecord)."""
    folder = pathlib.Path(output_dir)
    if not folder.is_dir():
        return []
    return sorted([p for p in folder.glob("*.tfrecord") if p.name.startswith(MODES)]
                  + [p for p in [folder / "dataset.json"] if p.exists()])


def create_dataset(spec, sequences, output_dir, *, eval_ratio=0.1, total=None,
                   batch_size=256, progress=True, config_name=None, input_description=None,
                   stats=None, input_spec=None, overwrite=False):
    """Runs `sequences` (an iterable of NoteSequence protos) through `spec` into
    `output_dir`/{training,eval}_<kind>.tfrecord plus dataset.json; returns DatasetResult.

    `stats` may be the Stats the input reader counts into (unreadable files), so one
    report covers the whole run. The files appear only when the run succeeds; a folder
    that already holds a dataset is refused unless `overwrite`. A run that keeps no
    training example raises NoExamplesError saying why, and writes nothing.
    """
    paths = dataset_paths(spec, output_dir, eval_ratio, overwrite)
    stats = stats if stats is not None else Stats()
    with contextlib.ExitStack() as stack:
        partial = {mode: stack.enter_context(outputs.atomic_path(paths[mode], overwrite))
                   for mode in MODES}
        counts = _write_examples(spec, sequences, partial, stats, eval_ratio, total,
                                 batch_size, progress)
        check_kept(spec, counts, stats, eval_ratio)
    return finish_dataset(spec, paths, counts, stats, eval_ratio=eval_ratio,
                          config_name=config_name, input_description=input_description,
                          input_spec=input_spec)


def dataset_paths(spec, output_dir, eval_ratio, overwrite):
    """{mode: path} of the files a run writes, after checking its settings and its output
    folder (before anything is read): a folder holding a dataset needs `overwrite`."""
    if not 0.0 <= eval_ratio < 1.0:
        raise ValueError(f"eval_ratio must be in [0, 1), got {eval_ratio}")
    output_dir = outputs.output_dir(output_dir)
    found = existing_dataset(output_dir)
    if found and not overwrite:
        raise outputs.OutputError(
            output_dir, f"already holds a dataset ({', '.join(p.name for p in found)}); "
                        "choose another folder or pass --overwrite to replace it")
    return {mode: output_dir / f"{mode}_{spec.extractor.kind}.tfrecord" for mode in MODES}


def check_kept(spec, counts, stats, eval_ratio):
    """Raises NoExamplesError, saying why, when a run kept no training example."""
    if not counts["training"]:
        raise NoExamplesError(explain.no_examples_message(
            stats, spec.extractor, counts, eval_ratio), stats)


def count_examples(stats, written, duplicates=None):
    """The examples each mode keeps ({mode: n}), counted as `<mode>_examples`: `written`
    less the eval examples equal to a training example (`duplicates`, None when the
    extractor does not exclude them)."""
    counts = dict(written)
    if duplicates is not None:
        stats.count("eval_windows_duplicate_of_training", duplicates)
        counts["eval"] -= duplicates
    for mode in MODES:
        stats.count(f"{mode}_examples", counts[mode])
    return counts


def finish_dataset(spec, paths, counts, stats, *, eval_ratio, config_name=None,
                   input_description=None, input_spec=None):
    """Writes dataset.json beside the example files `paths`; returns the DatasetResult."""
    kind, output_dir = spec.extractor.kind, paths["training"].parent
    if not counts["eval"]:
        log.warning("no eval examples (eval_ratio=%s): musiczoo_train will train without "
                    "evaluation", eval_ratio)
    info = {
        "config": config_name, "kind": kind, "input": input_description,
        "input_spec": input_spec,
        "eval_ratio": eval_ratio, "codec": spec.codec.get_config(),
        "input_size": spec.codec.input_size, "num_classes": spec.codec.num_classes,
        "files": {mode: paths[mode].name for mode in MODES}, "examples": counts,
        "extractor": {"class": type(spec.extractor).__name__,
                      **dataclasses.asdict(spec.extractor)},
        "statistics": stats.as_dict(),
    }
    info_path = output_dir / "dataset.json"
    outputs.write_text(info_path, json.dumps(info, indent=2, default=str), overwrite=True)
    return DatasetResult(paths, counts, stats, info_path, spec.extractor)


def _write_examples(spec, sequences, paths, stats, eval_ratio, total, batch_size, progress):
    writers = {mode: _ModeWriter(spec, paths[mode], stats, batch_size, mode == "training")
               for mode in MODES}
    bar = Progress("sequences", total=total, unit="seq", enabled=progress)
    try:
        for sequence in sequences:
            stats.count("sequences_processed")
            mode = mode_of(sequence, eval_ratio)
            stats.count(f"sequences_{mode}")
            writers[mode].add(_to_arrays(sequence, spec))
            bar.update(extra=f"{sum(w.writer.count for w in writers.values())} examples")
    finally:
        for writer in writers.values():
            writer.close()
    dropped = None
    if writers["eval"].keys:
        # Held-out windows that equal a training window measure memory, not
        # generalisation (drum grooves repeat heavily): eval keeps only the others.
        dropped = _drop_eval_duplicates(paths["eval"], writers["eval"].keys,
                                        writers["training"].keys)
    counts = count_examples(stats, {mode: writers[mode].writer.count for mode in MODES},
                            dropped)
    bar.finish(extra=f"{counts['training']} training + {counts['eval']} eval examples")
    return counts


def read_dataset_info(output_dir) -> Optional[dict]:
    """The dataset.json written by create_dataset, or None for a bare TFRecord folder."""
    path = pathlib.Path(output_dir) / "dataset.json"
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: not a readable dataset description ({error})") from None
    if not isinstance(info, dict) or not isinstance(info.get("files"), dict):
        raise ValueError(f"{path}: not a dataset description written by create_dataset")
    return info
