from musiczoo.models.music_vae import configs  # noqa: F401
