"""Drums RNN: configs now; the model joins with the events-RNN core."""
from musiczoo.models.drums_rnn.configs import DrumsRNNConfig  # noqa: F401
