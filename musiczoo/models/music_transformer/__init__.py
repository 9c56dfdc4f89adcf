"""Music Transformer (in progress): relative self-attention with the skewing procedure.
The family (configs, model, codecs, bundle) is not registered yet."""
