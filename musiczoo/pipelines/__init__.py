"""NoteSequence pipelines: files -> NoteSequences -> transforms -> codecs -> TFRecords.

Nothing here imports a model; models import codecs and extractors from here.
"""
