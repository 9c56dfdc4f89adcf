"""Model families. Importing this registers every family and its named configs (see
registry); the families' config modules only define them."""
from musiczoo import registry
from musiczoo.models.drums_rnn import configs as drums_rnn_configs
from musiczoo.models.melody_rnn import configs as melody_rnn_configs
from musiczoo.models.music_transformer import configs as music_transformer_configs
from musiczoo.models.music_vae import configs as music_vae_configs
from musiczoo.models.performance_rnn import configs as performance_rnn_configs

# (family, config class, its named configs, description, "module:Class" of its model)
FAMILIES = (
    ("drums_rnn", drums_rnn_configs.DrumsRNNConfig, drums_rnn_configs.CONFIGS,
     "LSTM over drum patterns (Magenta's Drums RNN).",
     "musiczoo.models.drums_rnn.model:DrumsRNN"),
    ("melody_rnn", melody_rnn_configs.MelodyRNNConfig, melody_rnn_configs.CONFIGS,
     "LSTM over monophonic melodies (Magenta's Melody RNN).",
     "musiczoo.models.melody_rnn.model:MelodyRNN"),
    ("music_transformer", music_transformer_configs.MusicTransformerConfig,
     music_transformer_configs.CONFIGS,
     "Decoder-only Transformer with relative attention over chorale grids or performance "
     "events (Music Transformer).",
     "musiczoo.models.music_transformer.model:MusicTransformer"),
    ("music_vae", music_vae_configs.MusicVAEConfig, music_vae_configs.CONFIGS,
     "Variational autoencoder over 2- and 16-bar melodies and drum loops (Magenta's "
     "MusicVAE).",
     "musiczoo.models.music_vae.model:MusicVAE"),
    ("performance_rnn", performance_rnn_configs.PerformanceRNNConfig,
     performance_rnn_configs.CONFIGS,
     "LSTM over expressive performance events: notes, 10 ms time shifts, velocities "
     "(Magenta's Performance RNN).",
     "musiczoo.models.performance_rnn.model:PerformanceRNN"),
)

for _name, _config_class, _configs, _description, _model in FAMILIES:
    registry.register_family(_name, _config_class, _description, model_path=_model)
    for _config in _configs:
        registry.register_config(_name, _config)
