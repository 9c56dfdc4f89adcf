"""Pieces with a form (AABA, ABAB, ...) and pieces "more like this one", for every family.

A form's sections share the bars evenly; a letter's first section is generated, and a
letter that comes back is its first section again, varied where the family can: the
first half kept and the second half sampled anew (Melody/Drums RNN, Music Transformer:
the first half is the primer), or the same latent code with the last section's cadence
(MusicVAE). Only the last section ends on the tonic.
"""
import dataclasses

from musiczoo.controls import ControlError

DEFAULT_BARS = {"melody_rnn": 16, "drums_rnn": 4, "music_transformer": 8}
SECTION_SEED_STRIDE = 7919  # each section its own draw, all from the variation's seed


def default_bars(model):
    if model.family == "music_vae":
        return model.config.slice_bars
    return DEFAULT_BARS.get(model.family, 8)


def make_piece(model, controls, form, temperature, seed):
    """One NoteSequence: the controls' bars (or the family's default) in `form`."""
    form = (form or "").strip().upper()
    if len(form) <= 1:
        return model.generate(1, controls=_with_bars(model, controls), seed=seed,
                              temperature=temperature)[0]
    bars = controls.bars or default_bars(model) * len(form)
    if bars % len(form):
        raise ControlError(f"{bars} bars do not divide into the {len(form)} sections of "
                           f"{form}: give a multiple of {len(form)} bars")
    section_bars = bars // len(form)
    made, sections = {}, []
    for index, letter in enumerate(form):
        last = index == len(form) - 1
        section = dataclasses.replace(controls, bars=section_bars,
                                      end_on_tonic=controls.end_on_tonic and last)
        section_seed = seed + SECTION_SEED_STRIDE * (index + 1)
        if letter not in made:
            made[letter] = piece = model.generate(1, controls=section, seed=section_seed,
                                                  temperature=temperature)[0]
        else:
            piece = varied(model, made[letter], section, temperature, section_seed,
                           section_seed_of_first=seed + SECTION_SEED_STRIDE * (
                               form.index(letter) + 1))
        sections.append(piece)
    return concatenate(sections)


def _with_bars(model, controls):
    if controls.bars is not None:
        return controls
    return dataclasses.replace(controls, bars=default_bars(model))


def varied(model, piece, controls, temperature, seed, section_seed_of_first=None):
    """The section `piece` again, a little different (see the module docstring)."""
    if "primer_midi" not in model.primer_flags:  # MusicVAE: same code, this cadence
        return model.generate(1, controls=controls, seed=section_seed_of_first,
                              temperature=temperature)[0]
    half = max(1, (controls.bars or 2) // 2)
    return model.generate(1, primer=head(piece, half), controls=controls, seed=seed,
                          temperature=temperature)[0]


def more_like(model, source, controls, temperature, seed, amount=0.3):
    """A new piece that keeps `source`'s character: its opening half as the primer, or
    (MusicVAE) its latent codes moved by `amount` standard deviations."""
    from musiczoo.controls.compliance import bar_seconds
    bars = int(round(source.total_time / bar_seconds(source))) or controls.bars or 2
    settled = dataclasses.replace(controls, bars=bars)
    if model.family == "music_vae":
        return model.vary(source, settled, amount=amount, seed=seed,
                          temperature=temperature)
    return model.generate(1, primer=head(source, max(1, bars // 2)), controls=settled,
                          seed=seed, temperature=temperature)[0]


def head(sequence, bars):
    """The first `bars` bars of a NoteSequence (notes cut at the bar line)."""
    from musiczoo.controls.compliance import bar_seconds
    from note_seq.protobuf import music_pb2
    end = bars * bar_seconds(sequence)
    cut = music_pb2.NoteSequence()
    cut.CopyFrom(sequence)
    del cut.notes[:]
    for note in sequence.notes:
        if note.start_time < end - 1e-9:
            kept = cut.notes.add()
            kept.CopyFrom(note)
            kept.end_time = min(note.end_time, end)
    cut.total_time = end
    return cut


def concatenate(sections):
    """Sections back to back, each lasting its own total_time."""
    from note_seq.protobuf import music_pb2
    whole = music_pb2.NoteSequence()
    whole.CopyFrom(sections[0])
    del whole.notes[:]
    offset = 0.0
    for section in sections:
        for note in section.notes:
            copy = whole.notes.add()
            copy.CopyFrom(note)
            copy.start_time += offset
            copy.end_time += offset
        offset += section.total_time
    whole.total_time = offset
    return whole
