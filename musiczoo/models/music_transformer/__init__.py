"""Music Transformer (Huang et al. 2018): relative self-attention with the skewing
procedure, chorale-grid and performance-event codecs, key/value-cached sampling."""
from musiczoo.models.music_transformer import configs  # noqa: F401
# The multi-instrument subclass registers itself with MusicTransformer (see model.py).
from musiczoo.models.music_transformer import multitrack  # noqa: F401,E402
