"""What every model family shares: config -> codec + Keras network, bundles in and out,
and the metadata a training run records."""
import datetime
import pathlib

from musiczoo import bundles, checks

# Bounds on one generation call: the batch and its history live in memory at once.
MAX_OUTPUTS = 1024
MAX_QPM = 1000.0


def check_generation(num_outputs, num_steps=None, qpm=None, max_steps=None):
    """(num_outputs, num_steps or None, qpm or None) checked: clear errors for 0, negative,
    fractional, absurdly large or non-finite values instead of silent defaults."""
    num_outputs = checks.integer("num_outputs", num_outputs, 1, MAX_OUTPUTS)
    num_steps = checks.optional_integer("num_steps", num_steps, 1, max_steps)
    qpm = checks.optional_positive_number("qpm", qpm, MAX_QPM)
    return num_outputs, num_steps, qpm


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
        from musiczoo.bundle import BundleError
        config, codec = bundles.model_parts(contents, path)
        if codec != config.codec():
            raise BundleError(path, "bad_header", f"the bundle's codec {codec!r} differs from "
                                                  f"what its config builds ({config.codec()!r})")
        instance = cls(config, metadata=contents.metadata)
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

    def run_identity(self):
        """What a run folder records to refuse being resumed by another config."""
        from musiczoo import registry
        return {"family": self.family, "config": registry.config_to_dict(self.config),
                "codec": self.codec.get_config()}

    def run_bundle_path(self, run_dir):
        """run_dir/<config name>.mzb, the name made safe (a bundle's name is data)."""
        from musiczoo import outputs
        return outputs.inside(pathlib.Path(run_dir),
                              outputs.safe_name(self.config.name, self.family) + ".mzb")

    def save_bundle(self, path, description=None):
        metadata = dict(self.metadata)
        metadata.setdefault("description", description or self.config.description)
        metadata["saved"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return bundles.save_model_bundle(path, family=self.family, config=self.config,
                                         codec=self.codec, model=self.model, metadata=metadata)
