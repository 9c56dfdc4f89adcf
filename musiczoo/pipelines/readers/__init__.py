"""Readers: music files (MIDI, MusicXML, ABC), NoteSequence TFRecords, the named corpora,
TensorFlow Datasets and input specs, all to checked NoteSequences; `limits` bounds what
untrusted input may cost before it is parsed."""
