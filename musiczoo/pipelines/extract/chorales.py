"""Four-voice music <-> a 16th-note pitch grid (one column per voice, soprano first).

`voice_grid` reads any NoteArrays with exactly four pitched instruments (the
bach_chorales corpus, or a MIDI file with one track per voice): voices are ordered by
their names where they are named soprano, alto, tenor, bass, else by mean pitch,
highest first; times are quantized at `steps_per_quarter` using the first tempo (chorale
grids have no meter, so time-signature changes do not matter), and a step holds the
pitch of the voice's latest note sounding there, -1 when it is silent.
"""
import dataclasses

import numpy as np

from musiczoo.pipelines.codecs.chorale import REST
from musiczoo.pipelines.stats import SequenceError

DEFAULT_QPM = 120.0
VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


class VoicesError(SequenceError):
    """The music is not in four separate voices (the message says what it holds)."""

    def __init__(self, message):
        super().__init__("not_four_voices", message)


def named_voice_order(sequence):
    """The instruments of a NoteSequence whose instrument names are soprano, alto, tenor
    and bass (as this module writes them), in that order; None when they are not named."""
    names = {info.name.strip().lower(): info.instrument for info in sequence.instrument_infos}
    if all(name in names for name in VOICE_NAMES):
        return [names[name] for name in VOICE_NAMES]
    return None


def voice_grid(arrays, steps_per_quarter=4, num_voices=4, stats=None, order=None):
    """int32 [T, num_voices] pitches (-1 silent); `order` lists the instruments soprano
    first (default: by mean pitch, highest first). Raises VoicesError."""
    pitched = ~arrays.is_drum
    instruments = sorted(set(arrays.instrument[pitched].tolist()))
    name = arrays.filename or arrays.id or "<sequence>"
    if len(instruments) != num_voices:
        raise VoicesError(f"{name}: needs {num_voices} voices (one instrument or track each), "
                          f"found {len(instruments)} pitched instrument(s)")
    if order is None or sorted(order) != instruments:
        means = [arrays.pitch[pitched & (arrays.instrument == i)].mean() for i in instruments]
        order = [instruments[i] for i in np.argsort(means, kind="stable")[::-1]]
    qpm = arrays.tempos[0][1] if arrays.tempos else DEFAULT_QPM
    steps_per_second = steps_per_quarter * qpm / 60.0
    start = np.round(arrays.start_time * steps_per_second).astype(np.int64)
    end = np.round(arrays.end_time * steps_per_second).astype(np.int64)
    short = end <= start
    if stats is not None and (short & pitched).any():
        stats.count("notes_lengthened_to_one_step", int((short & pitched).sum()))
    end = np.maximum(end, start + 1)
    total = int(end[pitched].max()) if pitched.any() else 0
    grid = np.full((total, num_voices), REST, np.int32)
    for voice, instrument in enumerate(order):
        notes = np.flatnonzero(pitched & (arrays.instrument == instrument))
        # Later onsets overwrite: a step sounds the voice's most recent note.
        for n in notes[np.argsort(start[notes], kind="stable")]:
            grid[start[n]:min(end[n], total), voice] = arrays.pitch[n]
    return grid


def grid_to_note_sequence(grid, steps_per_quarter=4, qpm=DEFAULT_QPM, velocity=80,
                          program=0):
    """A NoteSequence with one instrument per voice; repeated pitches in a voice merge into
    one held note (the grid does not mark re-articulation, as in the JSB data)."""
    from note_seq.protobuf import music_pb2
    grid = np.asarray(grid)
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=qpm)
    sequence.ticks_per_quarter = 220
    seconds = 60.0 / qpm / steps_per_quarter
    for voice in range(grid.shape[1] if grid.ndim == 2 else 0):
        column = grid[:, voice]
        step = 0
        while step < len(column):
            pitch = int(column[step])
            end = step + 1
            while end < len(column) and column[end] == pitch:
                end += 1
            if pitch != REST:
                sequence.notes.add(pitch=pitch, velocity=velocity, instrument=voice,
                                   program=program, start_time=step * seconds,
                                   end_time=end * seconds)
            step = end
    for voice in range(grid.shape[1] if grid.ndim == 2 else 0):
        sequence.instrument_infos.add(
            instrument=voice, name=VOICE_NAMES[voice] if voice < len(VOICE_NAMES) else "")
    sequence.total_time = len(grid) * seconds
    return sequence


@dataclasses.dataclass(frozen=True)
class ChoraleGridExtractor:
    """Whole four-voice pieces as [T, 4] pitch grids (create_dataset's extractor)."""
    steps_per_quarter: int = 4
    num_voices: int = 4
    min_steps: int = 16
    kind = "chorale_grids"

    def extract(self, sequences, stats):
        out = []
        for index, arrays in enumerate(sequences):
            try:
                grid = voice_grid(arrays, self.steps_per_quarter, self.num_voices, stats=stats)
            except VoicesError:
                stats.count("sequences_discarded_not_four_voices")
                continue
            if len(grid) < self.min_steps:
                stats.count("grids_discarded_too_short")
                continue
            stats.count("grids_extracted")
            stats.count("grid_steps", len(grid))
            out.append((index, grid))
        return out
