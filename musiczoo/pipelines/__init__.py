"""NoteSequence pipelines: files -> NoteSequences -> transforms -> codecs -> TFRecords.

The rooms, in the order data walks through them:
  readers/   music files, TFRecords, named corpora, TFDS and input specs -> NoteSequences
  extract/   NoteSequences as arrays, transforms, melodies, drums, performances, windows
  codecs/    events <-> integer ids and model inputs, one codec per representation
  datasets/  a config's DataSpec run into TFRecords, and the tf.data inputs that read them
  writers.py NoteSequences out as MIDI files
`stats.py` (Stats, SequenceError) is shared by every room.

Nothing here imports a model; models import codecs and extractors from here.
"""
