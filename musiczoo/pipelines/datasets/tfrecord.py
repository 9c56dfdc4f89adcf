"""Training examples on disk, in Magenta's layout, and read back through tf.data.

Each record is a tf.train.SequenceExample with feature lists `inputs` (one float vector
per step) and `labels` (one int64 per step), exactly what Magenta's
`make_sequence_example` wrote, so a Magenta user's `training_melodies.tfrecord` loads
here unchanged and ours load in Magenta.
"""
import numpy as np


def _tf():
    import tensorflow as tf  # imported on use: TF takes seconds to import
    return tf


def sequence_example_bytes(inputs, labels):
    """Serializes one (inputs [T, D], labels [T]) pair as a SequenceExample."""
    example = _tf().train.SequenceExample()
    lists = example.feature_lists.feature_list
    input_features = lists["inputs"].feature
    for row in np.asarray(inputs, np.float32).tolist():
        input_features.add().float_list.value.extend(row)
    label_features = lists["labels"].feature
    for label in np.asarray(labels, np.int64).tolist():
        label_features.add().int64_list.value.append(label)
    # feature_lists is a map: without `deterministic` its order on the wire depends on the
    # process (importing Beam flips it), and the same example would have different bytes.
    return example.SerializeToString(deterministic=True)


def parse_sequence_example(serialized, input_size):
    """(inputs [T, D] float32, labels [T] int64) from SequenceExample bytes (eager or graph)."""
    tf = _tf()
    _, sequence = tf.io.parse_single_sequence_example(
        serialized, sequence_features={
            "inputs": tf.io.FixedLenSequenceFeature([input_size], tf.float32),
            "labels": tf.io.FixedLenSequenceFeature([], tf.int64)})
    return sequence["inputs"], sequence["labels"]


class ExampleWriter:
    """Appends SequenceExamples to a TFRecord file; a context manager. Write failures
    (disk full, ...) raise OutputError naming the file."""

    def __init__(self, path):
        self.path = str(path)
        self.count = 0
        with self._errors():
            self._writer = _tf().io.TFRecordWriter(self.path)

    def _errors(self):
        import contextlib

        from musiczoo import outputs

        @contextlib.contextmanager
        def translated():
            try:
                yield
            except _tf().errors.OpError as error:  # TF's own error types, not OSError
                raise outputs.OutputError(self.path, f"cannot be written: {error.message}") \
                    from None
        return translated()

    def write(self, inputs, labels):
        with self._errors():
            self._writer.write(sequence_example_bytes(inputs, labels))
        self.count += 1

    def write_serialized(self, record):
        """Appends one already serialized record (e.g. copied from another file)."""
        with self._errors():
            self._writer.write(record)
        self.count += 1

    def close(self):
        with self._errors():
            self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_examples(path, input_size):
    """Yields (inputs, labels) numpy pairs from a SequenceExample TFRecord."""
    tf = _tf()
    for record in tf.data.TFRecordDataset(str(path)):
        inputs, labels = parse_sequence_example(record, input_size)
        yield inputs.numpy(), labels.numpy()


def make_input_fn(paths, input_size, batch_size, *, shuffle=True, repeat=False,
                  shuffle_buffer=2048, bucket_boundaries=None, seed=None, max_length=None,
                  chunks=False, crop_align=1, crop_start_input=None):
    """tf.data of padded batches: ((inputs [B, T, D], lengths [B]), labels [B, T]).

    Padding is zeros with label 0 and is masked out by `lengths`. With
    `bucket_boundaries` (e.g. [64, 128, 256]) examples of similar length are batched
    together, which wastes less work on padding for corpora of mixed lengths.
    `max_length` crops examples: a random window when shuffling (starting at a multiple
    of `crop_align`), else the head; with `chunks` every example becomes its consecutive
    `max_length`-step pieces instead. `crop_start_input` (an input vector) replaces the
    first input of every crop and chunk: a language model then sees each window as it
    sees a piece at generation time, opening with its start symbol.
    """
    tf = _tf()
    paths = [str(p) for p in ([paths] if isinstance(paths, (str, bytes)) or
                              hasattr(paths, "__fspath__") else paths)]
    dataset = tf.data.TFRecordDataset(paths)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()

    def open_window(inputs):
        if crop_start_input is None:
            return inputs
        first = tf.constant(crop_start_input, tf.float32, shape=[1, input_size])
        return tf.concat([first, inputs[1:]], axis=0)

    def parse(record):
        inputs, labels = parse_sequence_example(record, input_size)
        if max_length:
            # Training sees a random window of long examples (every part of a piece over
            # time, at a fraction of the cost of whole 512-step sequences); eval the head.
            length = tf.shape(labels)[0]
            start = 0
            if shuffle:
                starts = tf.maximum(length - max_length, 0) // crop_align + 1
                start = tf.random.uniform([], 0, starts, dtype=tf.int32, seed=seed) * crop_align
            inputs = open_window(inputs[start:start + max_length])
            labels = labels[start:start + max_length]
        return inputs, labels, tf.shape(labels)[0]

    def pieces(record):
        inputs, labels = parse_sequence_example(record, input_size)
        length = tf.shape(labels)[0]
        starts = tf.range(0, length, max_length)
        return tf.data.Dataset.from_tensor_slices(starts).map(
            lambda s: (open_window(inputs[s:s + max_length]), labels[s:s + max_length],
                       tf.minimum(max_length, length - s)))

    if chunks and max_length:
        dataset = dataset.flat_map(pieces)
    else:
        dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    shapes = ([None, input_size], [None], [])
    if bucket_boundaries:
        dataset = dataset.bucket_by_sequence_length(
            lambda inputs, labels, length: length, list(bucket_boundaries),
            [batch_size] * (len(bucket_boundaries) + 1), padded_shapes=shapes)
    else:
        dataset = dataset.padded_batch(batch_size, padded_shapes=shapes)
    dataset = dataset.map(lambda inputs, labels, length: ((inputs, length), labels))
    return dataset.prefetch(tf.data.AUTOTUNE)
