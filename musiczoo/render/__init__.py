"""Rendering NoteSequences for people: audio (`audio.render`, `audio.render_wav`, a SoundFont
sampler in numpy or FluidSynth when installed) and piano-roll pictures."""
