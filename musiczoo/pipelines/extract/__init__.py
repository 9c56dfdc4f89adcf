"""Extraction: NoteSequences as arrays (notearrays, notetable), split, quantize and
transform them, and cut out melodies, drum tracks, performances, chorale grids and
MusicVAE windows (extractors), with the note_seq reference they are checked against."""
