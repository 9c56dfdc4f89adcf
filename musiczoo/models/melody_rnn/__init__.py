"""Melody RNN: configs now; the model joins with the events-RNN core."""
from musiczoo.models.melody_rnn.configs import MelodyRNNConfig  # noqa: F401
