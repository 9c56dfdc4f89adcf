"""NoteSequences out as Standard MIDI Files that end on a bar line, so loops loop."""
import io as io_module
import math
import pathlib
import warnings

with warnings.catch_warnings():
    # note_seq imports pydub, which warns about a missing ffmpeg that we never use.
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    from note_seq import midi_io

from musiczoo import outputs


def end_at_bar_line(sequence):
    """Sets `total_time` to the first bar line at or after the end of the music (its
    notes, or a longer `total_time` already set, e.g. the generated length), so a
    generated piece loops in time. The bar is taken from the first tempo and time
    signature (default 120 qpm, 4/4). Returns the sequence."""
    qpm = sequence.tempos[0].qpm if sequence.tempos else 120.0
    numerator, denominator = 4, 4
    if sequence.time_signatures:
        numerator = sequence.time_signatures[0].numerator or 4
        denominator = sequence.time_signatures[0].denominator or 4
    bar = numerator * 4.0 / denominator * 60.0 / qpm
    end = max([sequence.total_time] + [note.end_time for note in sequence.notes])
    bars = max(1, math.ceil(end / bar - 1e-6))  # float slack: 3.9999999 s is bar 2's end
    sequence.total_time = bars * bar
    return sequence


def midi_bytes(sequence):
    """A NoteSequence as the bytes of a Standard MIDI File that ends (end of track, in
    every track) at `sequence.total_time`, or at its last event if that is later.

    pretty_midi alone ends each track one tick after its last event, so a 2-bar loop
    whose last hit is early in bar 2 would be written 3.6 s long instead of 4.0 s."""
    import mido

    buffer = io_module.BytesIO()
    midi = midi_io.note_sequence_to_pretty_midi(sequence)
    midi.write(buffer)
    end_tick = midi.time_to_tick(sequence.total_time) if sequence.total_time > 0 else 0
    parsed = mido.MidiFile(file=io_module.BytesIO(buffer.getvalue()))
    for track in parsed.tracks:
        if not track or track[-1].type != "end_of_track":
            continue
        before = sum(message.time for message in track[:-1])
        track[-1].time = max(end_tick - before, 0)
    buffer = io_module.BytesIO()
    parsed.save(file=buffer)
    return buffer.getvalue()


def write_midi_files(sequences, output_dir, stem, suffixes=None, overwrite=False):
    """Writes generated sequences into `output_dir`, each ending at its last bar line;
    returns the paths. Names: `<stem>_<run tag>_001.mid`, ... (never replacing an
    earlier run's files), or with `overwrite` `<stem>_001.mid`, ... replaced in place.
    `stem` (a config name: data from a bundle) is made a safe file name."""
    suffixes = suffixes or [f"{n:03d}" for n in range(1, len(sequences) + 1)]
    data = [midi_bytes(end_at_bar_line(sequence)) for sequence in sequences]
    return outputs.write_batch(output_dir, stem, suffixes, lambda i, f: f.write(data[i]),
                               overwrite=overwrite)


def write_midi(sequence, path, overwrite=True):
    """Writes a NoteSequence as a Standard MIDI File (parent folders are created),
    atomically; with overwrite=False an existing file is an error."""
    path = pathlib.Path(path)
    outputs.output_dir(path.parent)
    outputs.write_bytes(path, midi_bytes(sequence), overwrite=overwrite)
    return path
