"""Magenta interoperability: models users already hold, run by musiczoo.

- `containers`: the variables inside a Magenta `.mag` bundle (note_seq's GeneratorBundle:
  its checkpoint bytes only, the metagraph is never imported), a TF checkpoint (V1 file or
  V2 prefix, or a `.tar` holding one) or a Magenta.js checkpoint folder (config.json +
  weights_manifest.json + shards); nothing from a file is ever executed.
- `events_rnn`: Magenta's Melody RNN / Drums RNN variable names and semantics mapped onto
  musiczoo's events-RNN weights, exactly (LSTM gate order, the forget bias added at run
  time, AttentionCellWrapper), and back again for Magenta.js export.
- `importer`: which container and which model, `import_model(path)`; `load_bundle` and
  `musiczoo_import` go through it.
"""
