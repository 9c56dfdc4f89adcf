"""Model families. Importing this registers every family and its named configs (see
registry); the families' config modules only define them."""
from musiczoo import registry
from musiczoo.models.drums_rnn import configs as drums_rnn_configs
from musiczoo.models.melody_rnn import configs as melody_rnn_configs
from musiczoo.models.music_transformer import configs as music_transformer_configs
from musiczoo.models.music_vae import configs as music_vae_configs
from musiczoo.models.performance_rnn import configs as performance_rnn_configs

registry.register_family(
    "drums_rnn", drums_rnn_configs.DrumsRNNConfig,
    "LSTM over drum patterns (Magenta's Drums RNN).",
    model_path="musiczoo.models.drums_rnn.model:DrumsRNN")
for _config in drums_rnn_configs.CONFIGS:
    registry.register_config("drums_rnn", _config)

registry.register_family(
    "melody_rnn", melody_rnn_configs.MelodyRNNConfig,
    "LSTM over monophonic melodies (Magenta's Melody RNN).",
    model_path="musiczoo.models.melody_rnn.model:MelodyRNN")
for _config in melody_rnn_configs.CONFIGS:
    registry.register_config("melody_rnn", _config)

registry.register_family(
    "music_transformer", music_transformer_configs.MusicTransformerConfig,
    "Decoder-only Transformer with relative attention over chorale grids or performance "
    "events (Music Transformer).",
    model_path="musiczoo.models.music_transformer.model:MusicTransformer")
for _config in music_transformer_configs.CONFIGS:
    registry.register_config("music_transformer", _config)

registry.register_family(
    "music_vae", music_vae_configs.MusicVAEConfig,
    "Variational autoencoder over 2- and 16-bar melodies and drum loops (Magenta's MusicVAE).",
    model_path="musiczoo.models.music_vae.model:MusicVAE")
for _config in music_vae_configs.CONFIGS:
    registry.register_config("music_vae", _config)

registry.register_family(
    "performance_rnn", performance_rnn_configs.PerformanceRNNConfig,
    "LSTM over expressive performance events: notes, 10 ms time shifts, velocities "
    "(Magenta's Performance RNN).",
    model_path="musiczoo.models.performance_rnn.model:PerformanceRNN")
for _config in performance_rnn_configs.CONFIGS:
    registry.register_config("performance_rnn", _config)
