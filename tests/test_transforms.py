"""Splitting and augmentation transforms equal note_seq's, on real chorales."""
import note_seq
import numpy as np
from note_seq import sequences_lib

from musiczoo.pipelines.extract import notearrays, transforms
from musiczoo.pipelines.stats import Stats


def notes_of(arrays):
    return sorted(zip(arrays.start_time.round(9).tolist(), arrays.end_time.round(9).tolist(),
                      arrays.pitch.tolist(), arrays.instrument.tolist()))


def ref_notes_of(ns):
    return sorted((round(n.start_time, 9), round(n.end_time, 9), n.pitch, n.instrument)
                  for n in ns.notes)


def test_split_by_length_equals_note_seq(chorales):
    stats = Stats()
    split = transforms.split_by_length(7.5)
    for ns in chorales[:6]:
        ours = split(notearrays.from_note_sequence(ns), stats)
        ref = sequences_lib.split_note_sequence(ns, 7.5)
        assert len(ours) == len(ref) > 1
        for part, ref_part in zip(ours, ref):
            assert notes_of(part) == ref_notes_of(ref_part)
            assert part.total_time == ref_part.total_time
            assert [t[1:] for t in part.tempos] == [(t.qpm,) for t in ref_part.tempos]
    assert stats["sequences_split_by_length"] > 0


def test_stretch_equals_note_seq(chorales):
    ns = chorales[0]
    ours = transforms.stretch_augment([1.05])(notearrays.from_note_sequence(ns), Stats())[0]
    ref = sequences_lib.stretch_note_sequence(ns, 1.05)
    assert notes_of(ours) == ref_notes_of(ref)
    assert ours.total_time == ref.total_time
    assert [q for _, q in ours.tempos] == [t.qpm for t in ref.tempos]
    assert ours.id.endswith("#stretch1.05")


def test_transpose_augment_drops_out_of_range_copies():
    ns = note_seq.NoteSequence()
    ns.notes.add(pitch=120, velocity=80, start_time=0, end_time=1)
    ns.notes.add(pitch=40, velocity=80, start_time=0, end_time=1, is_drum=True)
    ns.total_time = 1
    stats = Stats()
    out = transforms.transpose_augment([-3, 0, 3, 9])(notearrays.from_note_sequence(ns), stats)
    assert [a.pitch[0] for a in out] == [117, 120, 123]
    assert all(a.pitch[1] == 40 for a in out)          # drums are not transposed
    assert stats["transpositions_out_of_range"] == 1


def test_compose_fans_out():
    ns = note_seq.NoteSequence()
    for i in range(40):
        ns.notes.add(pitch=60 + i % 12, velocity=80, start_time=i * 0.5, end_time=i * 0.5 + 0.5)
    ns.total_time = 20.0
    run = transforms.compose(transforms.split_by_length(10.0), transforms.transpose_augment([0, 2]))
    out = run(notearrays.from_note_sequence(ns), Stats())
    assert len(out) == 4
    assert np.array_equal(out[1].pitch, out[0].pitch + 2)
