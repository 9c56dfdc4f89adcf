"""Model families. Importing this registers every family's configs (see registry)."""
from musiczoo.models import drums_rnn, melody_rnn, music_transformer, music_vae  # noqa: F401
