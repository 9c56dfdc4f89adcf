"""MusicXML and compressed MusicXML (.mxl) scores -> NoteSequence, through note_seq."""
import os
import shutil
import tempfile
import warnings

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about a missing ffmpeg that we never use.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    from note_seq import musicxml_reader

from musiczoo.pipelines.readers import limits
from musiczoo.pipelines.readers.errors import ReadError, check_sequence, read_bytes, within_limits


def read_musicxml_file(path):
    read_bytes(path)  # Clear errors for missing, empty or huge files before the XML parser.
    if path.lower().endswith(".mxl"):
        within_limits(path, limits.check_zip, path)  # a zip bomb, before note_seq unzips it
    try:
        # note_seq only unzips names ending in lower-case '.mxl', so 'X.MXL' goes via a copy.
        if not (path.lower().endswith(".mxl") and not path.endswith(".mxl")):
            sequence = musicxml_reader.musicxml_file_to_sequence_proto(path)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, "score.mxl")
                shutil.copyfile(path, copy)
                sequence = musicxml_reader.musicxml_file_to_sequence_proto(copy)
    except Exception as e:  # XML, zip and note_seq errors alike mean: cannot read this score.
        raise ReadError(path, "unparseable_musicxml", f"{type(e).__name__}: {e}") from e
    return [check_sequence(sequence, path)]
