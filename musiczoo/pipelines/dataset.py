"""NoteSequences -> training and eval TFRecords for one model config, with statistics.

The orchestration of Magenta's `<model>_create_dataset`: partition by id, optional
sustain, transforms (augmentation on the training side only), batched extraction,
codec, SequenceExample files. A sequence that breaks a stage is counted, named in the
log and skipped; the rest of the run and its outputs are unaffected.
"""
import dataclasses
import json
import logging
import pathlib
from typing import Optional

from musiczoo.pipelines import notearrays, performances, tfrecord, transforms
from musiczoo.pipelines.codecs.base import Codec
from musiczoo.pipelines.stats import Stats
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


def _to_arrays(sequence, spec, stats):
    if getattr(spec.extractor, "needs_sustain", False):
        sequence = performances.apply_sustain(sequence)
    return notearrays.from_note_sequence(sequence)


class _ModeWriter:
    """Batches sequences of one mode through extraction and writes their examples."""

    def __init__(self, spec, path, stats, batch_size, train):
        self.spec, self.stats, self.batch_size = spec, stats, batch_size
        self.writer = tfrecord.ExampleWriter(path)
        steps = list(spec.transforms) + (list(spec.train_transforms) if train else [])
        self.transform = transforms.compose(*steps) if steps else None
        self.pending = []

    def add(self, arrays):
        items = self.transform(arrays, self.stats) if self.transform else [arrays]
        self.pending.extend(items)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self):
        batch, self.pending = self.pending, []
        if not batch:
            return
        try:
            extracted = self.spec.extractor.extract(batch, self.stats)
        except Exception:  # noqa: BLE001 - isolate the sequence at fault, keep the rest
            extracted = []
            for arrays in batch:
                try:
                    extracted.extend(self.spec.extractor.extract([arrays], self.stats))
                except Exception as error:  # noqa: BLE001
                    name = arrays.filename or arrays.id
                    log.warning("skipped %s: %s: %s", name, type(error).__name__, error)
                    self.stats.count(f"sequences_failed_{type(error).__name__}")
        try:
            encoded = self.spec.codec.encode_batch([events for _, events in extracted])
        except ValueError:  # one bad sequence: find it, keep the others
            encoded = []
            for _, events in extracted:
                try:
                    encoded.append(self.spec.codec.encode(events))
                except ValueError:
                    self.stats.count("events_not_encodable")
        for inputs, labels in encoded:
            self.writer.write(inputs, labels)

    def close(self):
        self.flush()
        self.writer.close()


def create_dataset(spec, sequences, output_dir, *, eval_ratio=0.1, total=None,
                   batch_size=256, progress=True, config_name=None, input_description=None,
                   stats=None, input_spec=None):
    """Runs `sequences` (an iterable of NoteSequence protos) through `spec` into
    `output_dir`/{training,eval}_<kind>.tfrecord plus dataset.json; returns DatasetResult.

    `stats` may be the Stats the input reader counts into (unreadable files), so one
    report covers the whole run.
    """
    if not 0.0 <= eval_ratio < 1.0:
        raise ValueError(f"eval_ratio must be in [0, 1), got {eval_ratio}")
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stats = stats if stats is not None else Stats()
    kind = spec.extractor.kind
    paths = {mode: output_dir / f"{mode}_{kind}.tfrecord" for mode in MODES}
    writers = {mode: _ModeWriter(spec, paths[mode], stats, batch_size, mode == "training")
               for mode in MODES}
    bar = Progress("sequences", total=total, unit="seq", enabled=progress)
    try:
        for sequence in sequences:
            stats.count("sequences_processed")
            mode = "eval" if transforms.is_eval(sequence.id or sequence.filename, eval_ratio) \
                else "training"
            try:
                arrays = _to_arrays(sequence, spec, stats)
            except Exception as error:  # noqa: BLE001 - a broken proto must not end the run
                log.warning("skipped %s: %s", sequence.filename or sequence.id, error)
                stats.count(f"sequences_failed_{type(error).__name__}")
                continue
            stats.count(f"sequences_{mode}")
            writers[mode].add(arrays)
            bar.update(extra=f"{sum(w.writer.count for w in writers.values())} examples")
    finally:
        for writer in writers.values():
            writer.close()
    counts = {mode: writers[mode].writer.count for mode in MODES}
    for mode in MODES:
        stats.count(f"{mode}_examples", counts[mode])
    bar.finish(extra=f"{counts['training']} training + {counts['eval']} eval examples")
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
    info_path.write_text(json.dumps(info, indent=2, default=str))
    return DatasetResult(paths, counts, stats, info_path)


def read_dataset_info(output_dir) -> Optional[dict]:
    """The dataset.json written by create_dataset, or None for a bare TFRecord folder."""
    path = pathlib.Path(output_dir) / "dataset.json"
    return json.loads(path.read_text()) if path.exists() else None
