"""create_dataset as an Apache Beam pipeline (`musiczoo_create_dataset --runner=beam`).

The same run as build.create_dataset, spread over a Beam runner's workers: the same
readers, split by id, per-mode transforms, extractor, codec and SequenceExample bytes
(each step is build.py's function, called per element or per batch), so Beam and the
local run write the same examples and the same statistics. What differs is only how the
work is carried:

  input     a folder: its file paths, each read by a worker with files.read_files; a
            NoteSequence TFRecord: ReadFromTFRecord; anything else (a corpus, tfds, a
            single file): its sequences, read by the launching process with
            resolve_input's reader (corpora deduplicate across their files, which one
            reader does in order)
  counters  each worker counts into a Stats of its own and reports it as Beam Metrics
            counters; the launcher adds them into the run's Stats after the pipeline
  dedupe    eval examples equal to a training example (extractors with
            `eval_excludes_training`) are dropped by a key join (CoGroupByKey)
  outputs   shards in a temporary folder (in output_dir, or under --temp_location when
            the options give one), concatenated into training_<kind>.tfrecord and
            eval_<kind>.tfrecord (TFRecord files concatenate record by record) under the
            same atomic names as the local run; the temporary folder is always removed

`pipeline_options` is the user's Beam command line ("--runner=FlinkRunner
--flink_master=host:8081 ..."), passed to Beam unchanged.
"""
import contextlib
import importlib.util
import json
import logging
import pathlib
import shlex
import shutil
import uuid

from musiczoo import outputs
from musiczoo.pipelines.datasets import build, tfrecord
from musiczoo.pipelines.readers.corpora import CORPORA
from musiczoo.pipelines.readers.files import iter_music_files, read_files
from musiczoo.pipelines.readers.inputs import resolve_input
from musiczoo.pipelines.stats import Stats

log = logging.getLogger("musiczoo")

INSTALL_HINT = "pip install 'musiczoo[beam]'"
COUNTS = "musiczoo"                  # Stats.counts, by name
HISTOGRAMS = "musiczoo.histograms"   # Stats.histograms, as '["name", value]'
RUN = "musiczoo.run"                 # this module's own bookkeeping
BATCH_SIZE = 256                     # sequences per extraction batch, as the local run


class BeamUnavailableError(ValueError):
    """--runner=beam without Apache Beam installed."""


def require():
    """apache_beam, or BeamUnavailableError saying in one line what to install."""
    try:
        import apache_beam
    except ImportError:
        raise BeamUnavailableError(
            f"--runner=beam needs Apache Beam, which is not installed: {INSTALL_HINT}") \
            from None
    # Beam's TFRecord sink needs a CRC32C module (apache-beam[tfrecord] brings crcmod);
    # without one it would fail only when the first shard is written.
    if not any(importlib.util.find_spec(name) for name in ("google_crc32c", "crcmod")):
        raise BeamUnavailableError(
            "--runner=beam writes TFRecords through Beam, which needs crcmod or "
            f"google-crc32c (apache-beam[tfrecord]): {INSTALL_HINT}")
    return apache_beam


def report(stats):
    """Adds one worker's Stats to the pipeline's Metrics counters."""
    from apache_beam.metrics import Metrics
    for name, n in stats.counts.items():
        Metrics.counter(COUNTS, name).inc(n)
    for name, histogram in stats.histograms.items():
        for value, n in histogram.items():
            Metrics.counter(HISTOGRAMS, json.dumps([name, value])).inc(n)


def collect(metrics):
    """(Stats, {bookkeeping name: n}) from a pipeline result's metrics()."""
    from apache_beam.metrics.metric import MetricsFilter
    stats, run = Stats(), {}
    for namespace in (COUNTS, HISTOGRAMS, RUN):
        found = metrics.query(MetricsFilter().with_namespace(namespace))["counters"]
        for counter in found:
            name, n = counter.key.metric.name, counter.result or 0
            if namespace == COUNTS:
                stats.count(name, n)
            elif namespace == HISTOGRAMS:
                histogram, value = json.loads(name)
                stats.histograms[histogram][value] += n
            else:
                run[name] = run.get(name, 0) + n
    return stats, run


def _read_files(path, root_dir):
    """The sequences of one music file, read and counted as the local run reads a folder."""
    stats = Stats()
    sequences = list(read_files([path], stats, progress=False, root_dir=root_dir))
    report(stats)
    return sequences


def _checked_records(sequence, path):
    """A TFRecord's NoteSequence if the pipelines can take it (records.read_note_sequences'
    check, counted as records_failed_<reason>)."""
    from musiczoo.pipelines.readers.errors import ReadError, check_sequence
    try:
        check_sequence(sequence, f"{path}: a record")
    except ReadError as error:
        log.warning("skipped %s", error)
        stats = Stats()
        stats.count(f"records_failed_{error.reason}")
        report(stats)
        return []
    return [sequence]


def _is_note_sequence_tfrecord(path):
    # resolve_input's own test for a NoteSequence TFRecord
    return path.is_file() and (".tfrecord" in path.name or path.suffix == ".tfrecords")


def _read(pipeline, spec_text, stats, number=1):
    """(PCollection of sequences, description) for one input spec (no commas), the
    `number`th of the run's inputs."""
    beam = require()
    sequences, _, description = resolve_input(spec_text)  # checks it, one line
    path = pathlib.Path(spec_text).expanduser()
    label = f"Input {number} ({spec_text})"
    if spec_text in CORPORA or spec_text.startswith("tfds:"):
        path = None
    if path is not None and path.is_dir():
        files = iter_music_files(path)
        return (pipeline | f"{label}: files" >> beam.Create(files)
                | f"{label}: parse" >> beam.FlatMap(_read_files, str(path))), description
    if path is not None and _is_note_sequence_tfrecord(path):
        from note_seq.protobuf import music_pb2
        with open(path, "rb") as f:
            gzip = f.read(2) == b"\x1f\x8b"  # as read_note_sequences: by the magic bytes
        compression = beam.io.filesystem.CompressionTypes
        return (pipeline | label >> beam.io.ReadFromTFRecord(
                    str(path), coder=beam.coders.ProtoCoder(music_pb2.NoteSequence),
                    compression_type=compression.GZIP if gzip else compression.UNCOMPRESSED)
                | f"{label}: check" >> beam.FlatMap(_checked_records, str(path))), description
    # Anything else (a corpus, deduplicated across its files in order; tfds; a glob; one
    # music file): read here by resolve_input's own reader and handed to the workers.
    listed = list(sequences)
    stats.merge(sequences.stats)
    return pipeline | label >> beam.Create(listed, reshuffle=len(listed) > 1), description


class _Split:
    """A sequence -> ("training" | "eval", sequence), counted as the local run counts."""

    def __init__(self, eval_ratio):
        self.eval_ratio = eval_ratio

    def __call__(self, sequence):
        stats = Stats()
        stats.count("sequences_processed")
        mode = build.mode_of(sequence, self.eval_ratio)
        stats.count(f"sequences_{mode}")
        report(stats)
        return mode, sequence


class _Encode:
    """A batch of one mode's sequences -> [(example key, SequenceExample bytes)]."""

    def __init__(self, spec, mode):
        self.spec, self.mode = spec, mode
        self.transform = build.mode_transform(spec, mode == "training")

    def __call__(self, sequences):
        from apache_beam.metrics import Metrics
        stats, batch = Stats(), []
        for sequence in sequences:
            arrays = build._to_arrays(sequence, self.spec)
            batch.extend(self.transform(arrays, stats) if self.transform else [arrays])
        encoded = build.encode_examples(self.spec, batch, stats) if batch else []
        report(stats)
        Metrics.counter(RUN, f"written_{self.mode}").inc(len(encoded))
        return [(build._example_key(inputs, labels),
                 tfrecord.sequence_example_bytes(inputs, labels)) for inputs, labels in encoded]


def _eval_not_in_training(joined):
    """The eval records of one example key, unless training has an example with that key."""
    from apache_beam.metrics import Metrics
    _, sides = joined
    records = list(sides["eval"])
    if any(True for _ in sides["training"]):
        Metrics.counter(RUN, "eval_duplicates").inc(len(records))
        return []
    return records


def pipeline_options(text):
    """PipelineOptions from a Beam command line; the DirectRunner unless it names a runner."""
    require()
    from apache_beam.options.pipeline_options import PipelineOptions
    return PipelineOptions(shlex.split(text or ""))


def _shard_folder(options, output_dir):
    """Where the workers write their shards: under --temp_location if given (a bucket the
    workers can reach), else a hidden folder in output_dir."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import GoogleCloudOptions
    root = options.view_as(GoogleCloudOptions).temp_location or str(output_dir)
    return FileSystems.join(root, f".musiczoo-beam-{uuid.uuid4().hex}")


def _combine(shards, mode, target):
    """Concatenates `mode`'s shards (one TFRecord file each) into the file `target`."""
    from apache_beam.io.filesystems import FileSystems
    pattern = FileSystems.join(shards, f"{mode}-*")
    found = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    with open(target, "wb") as out:
        for path in found:
            with FileSystems.open(path) as shard:  # uncompressed (mime type only)
                shutil.copyfileobj(shard, out, 1 << 20)


def create_dataset(spec, input_spec, output_dir, *, options="", eval_ratio=0.1,
                   config_name=None, overwrite=False):
    """build.create_dataset for `input_spec` (as `--input`: corpus, folder, TFRecord,
    file, several joined by commas) run as a Beam pipeline with the Beam command line
    `options`; returns the same DatasetResult and writes the same files.

    Raises BeamUnavailableError (one line, with the pip command) without Apache Beam,
    NoExamplesError like the local run."""
    beam = require()
    from apache_beam.io.filesystems import FileSystems
    options = pipeline_options(options)
    pipeline = beam.Pipeline(options=options)  # an unknown runner fails here, in one line
    paths = build.dataset_paths(spec, output_dir, eval_ratio, overwrite)
    stats = Stats()  # what the launcher reads; the workers' counters are added after
    shards = _shard_folder(options, paths["training"].parent)
    excludes = getattr(spec.extractor, "eval_excludes_training", False)
    parts = [p.strip() for p in str(input_spec).split(",") if p.strip()]
    read = [_read(pipeline, part, stats, number) for number, part in enumerate(parts, 1)]
    descriptions = [description for _, description in read]
    sequences = [collection for collection, _ in read]
    if len(sequences) > 1:
        sequences = tuple(sequences) | "Inputs" >> beam.Flatten()
    else:
        sequences = sequences[0]
    split = (sequences | "Split by id" >> beam.Map(_Split(eval_ratio))
             | "By mode" >> beam.Partition(lambda item, n: build.MODES.index(item[0]),
                                          len(build.MODES)))
    examples = {}
    for mode, part in zip(build.MODES, split):
        examples[mode] = (part | f"{mode}: sequences" >> beam.Values()
                          | f"{mode}: batches" >> beam.BatchElements(
                              min_batch_size=1, max_batch_size=BATCH_SIZE)
                          | f"{mode}: encode" >> beam.FlatMap(_Encode(spec, mode)))
    records = {"training": examples["training"] | "training: records" >> beam.Values()}
    if excludes:
        keys = examples["training"] | "training: keys" >> beam.Map(lambda kv: (kv[0], None))
        records["eval"] = ({"training": keys, "eval": examples["eval"]}
                           | "eval: join training keys" >> beam.CoGroupByKey()
                           | "eval: not in training" >> beam.FlatMap(_eval_not_in_training))
    else:
        records["eval"] = examples["eval"] | "eval: records" >> beam.Values()
    for mode in build.MODES:
        _ = records[mode] | f"{mode}: write" >> beam.io.WriteToTFRecord(
            FileSystems.join(shards, mode), file_name_suffix=".tfrecord")
    try:
        result = pipeline.run()
        state = result.wait_until_finish()
        if state != beam.runners.runner.PipelineState.DONE:
            raise RuntimeError(f"the Beam pipeline ended {state}, not DONE")
        counted, run = collect(result.metrics())
        stats.merge(counted)
        written = {mode: run.get(f"written_{mode}", 0) for mode in build.MODES}
        duplicates = run.get("eval_duplicates", 0) if excludes and written["eval"] else None
        counts = build.count_examples(stats, written, duplicates)
        build.check_kept(spec, counts, stats, eval_ratio)
        with contextlib.ExitStack() as stack:
            for mode in build.MODES:
                partial = stack.enter_context(outputs.atomic_path(paths[mode], overwrite))
                _combine(shards, mode, partial)
    finally:
        with contextlib.suppress(Exception):  # nothing there when the run failed early
            FileSystems.delete([shards])
    return build.finish_dataset(spec, paths, counts, stats, eval_ratio=eval_ratio,
                                config_name=config_name,
                                input_description=" + ".join(descriptions),
                                input_spec=str(input_spec))
