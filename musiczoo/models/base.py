"""What every model family shares: config -> codec + Keras network, bundles in and out,
and the metadata a training run records."""
import datetime
import pathlib

from musiczoo import bundles


class BundledModel:
    """A family's model: `config`, `codec`, Keras `model`, `metadata`. Subclasses set
    `family` and `capabilities` and implement `build_model`."""

    family = None              # registry name, set by subclasses
    capabilities = ()

    def __init__(self, config, model=None, metadata=None):
        self.config = config
        self.codec = config.codec()
        self.metadata = dict(metadata or {})
        self.model = model or self.build_model()

    def build_model(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(config)

    @classmethod
    def from_bundle(cls, contents, path="<bundle>"):
        config, codec = bundles.model_parts(contents)
        instance = cls(config, metadata=contents.metadata)
        if codec != instance.codec:
            raise ValueError(f"{path}: the bundle's codec {codec!r} differs from what its config "
                             f"builds ({instance.codec!r})")
        bundles.restore_weights(instance.model, contents, path)
        instance.bundle_path = pathlib.Path(path)
        return instance

    def check_dataset(self, dataset_dir):
        """The dataset's info (dataset.json) after checking it was built for this codec."""
        from musiczoo import training
        _, info = training.dataset_files(dataset_dir)
        if info and info.get("codec") != self.codec.get_config():
            raise ValueError(f"{dataset_dir} was built for {info.get('config')} "
                             f"({info.get('codec')}); this model's codec is {self.codec!r}: "
                             f"rebuild it with --config={self.config.name}")
        return info or {}

    def record_training(self, metrics, info, dataset_dir, training_data=None):
        """Stores what a run trained on and reached in the metadata, for the bundle."""
        self.metadata.update(
            training_data=training_data or info.get("input") or str(dataset_dir),
            dataset={"input_spec": info.get("input_spec"), "eval_ratio": info.get("eval_ratio"),
                     "examples": info.get("examples")},
            steps=metrics["step"],
            train_metrics={k: v for k, v in metrics.items()
                           if k not in ("step", "seconds") and not k.startswith("eval_")},
            eval_metrics={k[len("eval_"):]: v for k, v in metrics.items() if k.startswith("eval_")},
            examples=info.get("examples"))

    def save_bundle(self, path, description=None):
        metadata = dict(self.metadata)
        metadata.setdefault("description", description or self.config.description)
        metadata["saved"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return bundles.save_model_bundle(path, family=self.family, config=self.config,
                                         codec=self.codec, model=self.model, metadata=metadata)
