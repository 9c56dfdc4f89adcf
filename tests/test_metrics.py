"""Sanity figures on hand-made music whose answers are known."""
from musiczoo import metrics


def test_melody_figures():
    c_major = [60, -2, 62, -2, 64, -2, 65, -2, 67, -2, 69, -2, 71, -2, 72, -1]  # one bar
    chromatic = [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, -2, -2, -2, -2]
    figures = metrics.melody_figures([c_major])
    assert figures == {"count": 1, "pitch_range": 12.0, "scale_fit": 1.0, "notes_per_bar": 8.0}
    assert metrics.melody_figures([chromatic])["scale_fit"] == round(7 / 12, 4)
    assert metrics.melody_figures([[-2, -2]])["count"] == 0


def test_drum_figures():
    bar = [frozenset()] * 16
    rock = list(bar)
    for step in (0, 8):
        rock[step] = frozenset({36, 42})
    for step in (4, 12):
        rock[step] = frozenset({38, 42})
    offbeat = list(bar)
    offbeat[2] = frozenset({36})
    offbeat[6] = frozenset({38})
    figures = metrics.drum_figures([rock])
    assert figures["drum_classes"] == 3 and figures["kick_on_beat"] == 1.0
    assert figures["snare_on_beat"] == 1.0 and figures["hits_per_bar"] == 8.0
    both = metrics.drum_figures([rock, offbeat])
    assert both["kick_on_beat"] == 0.5 and both["count"] == 2
