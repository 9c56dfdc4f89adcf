"""Model families and their named configs, under Magenta's names.

musiczoo.models registers each family (melody_rnn, drums_rnn, music_vae,
music_transformer): its frozen config dataclass and its named configs (`attention_rnn`,
`drum_kit`, ...), loaded by name on first use. The entry
points find configs here, override fields with `--hparams`, and build the family's
model through its `model_path` (imported only when a model is needed).
"""
import dataclasses
import difflib
import importlib
import typing

_FAMILIES = {}


class RegistryError(ValueError):
    """An unknown family or config, a bad hparam, or a family without a model yet."""


@dataclasses.dataclass
class Family:
    name: str
    config_class: type
    description: str = ""
    # "module:Class" of the family's model; None while only its data pipeline exists.
    model_path: typing.Optional[str] = None
    configs: dict = dataclasses.field(default_factory=dict)

    def model_class(self):
        if self.model_path is None:
            raise RegistryError(
                f"the {self.name} family has configs and a data pipeline but no trainable "
                f"model in this version of musiczoo; use musiczoo_create_dataset for now")
        module, _, attr = self.model_path.partition(":")
        return getattr(importlib.import_module(module), attr)


def register_family(name, config_class, description="", model_path=None):
    family = _FAMILIES.get(name)
    if family is None:
        family = _FAMILIES[name] = Family(name, config_class, description, model_path)
    elif model_path:
        family.model_path = model_path
    return family


def register_config(family_name, config):
    family = _FAMILIES[family_name]
    if not isinstance(config, family.config_class):
        raise TypeError(f"{config!r} is not a {family.config_class.__name__}")
    if config.name in family.configs:
        raise RegistryError(f"config {config.name!r} is already registered for {family_name}")
    family.configs[config.name] = config
    return config


def _ensure_loaded():
    # By name, as model classes are: musiczoo.models imports this module to register.
    importlib.import_module("musiczoo.models")


def families():
    _ensure_loaded()
    return dict(_FAMILIES)


def get_family(name):
    _ensure_loaded()
    if name not in _FAMILIES:
        raise RegistryError(f"unknown model family {name!r}{_suggest(name, _FAMILIES)}; "
                            f"known families: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def all_configs():
    """{config name: (family name, config)} across families."""
    _ensure_loaded()
    return {name: (family.name, config)
            for family in _FAMILIES.values() for name, config in family.configs.items()}


def find_config(config_name, family_name=None):
    """(Family, config) for a config name, optionally checked against a family."""
    _ensure_loaded()
    if family_name is not None:
        family = get_family(family_name)
        if config_name not in family.configs:
            raise RegistryError(
                f"{family_name} has no config {config_name!r}"
                f"{_suggest(config_name, family.configs)}; its configs: "
                f"{', '.join(sorted(family.configs))}")
        return family, family.configs[config_name]
    matches = [f for f in _FAMILIES.values() if config_name in f.configs]
    if not matches:
        names = all_configs()
        raise RegistryError(f"unknown config {config_name!r}{_suggest(config_name, names)}; "
                            f"known configs: {', '.join(sorted(names))}")
    return matches[0], matches[0].configs[config_name]


def _suggest(name, choices):
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_hparams(text):
    """'a=1,b=[64,64],c=x' -> {'a': '1', 'b': '[64,64]', 'c': 'x'} (values still strings)."""
    result, depth, current = {}, 0, ""
    pieces = []
    for char in text or "":
        depth += char in "([" and 1 or char in ")]" and -1 or 0
        if char == "," and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        pieces.append(current)
    for piece in pieces:
        key, sep, value = piece.partition("=")
        if not sep or not key.strip():
            raise RegistryError(f"bad hparam {piece.strip()!r}: expected name=value")
        result[key.strip()] = value.strip()
    return result


def _convert(value, annotation, field_name):
    """Parses a flag string into the config field's declared type."""
    if typing.get_origin(annotation) is typing.Union:  # Optional[X]
        if value.lower() in ("none", "null"):
            return None
        annotation = [a for a in typing.get_args(annotation) if a is not type(None)][0]
    try:
        if annotation is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if typing.get_origin(annotation) is tuple or annotation is tuple:
            item_type = (typing.get_args(annotation) or (int,))[0]
            return tuple(item_type(v) for v in value.strip("()[] ").split(",") if v.strip())
        return annotation(value)
    except (ValueError, TypeError):
        name = getattr(annotation, "__name__", str(annotation))
        raise RegistryError(f"hparam {field_name}={value!r}: expected {name}") from None


def apply_hparams(config, hparams):
    """A new config with fields overridden from 'name=value,...' or a dict of strings."""
    overrides = parse_hparams(hparams) if isinstance(hparams, str) else dict(hparams or {})
    if not overrides:
        return config
    fields = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes = {}
    overrides = _magenta_names(overrides, fields)
    for key, value in overrides.items():
        if key not in fields or key == "name":
            settable = sorted(k for k in fields if k != "name")
            raise RegistryError(f"unknown hparam {key!r} for {type(config).__name__}"
                                f"{_suggest(key, settable)}; settable: {', '.join(settable)}")
        changes[key] = _convert(value, hints[key], key) if isinstance(value, str) else value
    return dataclasses.replace(config, **changes)


#: Magenta's events-RNN HParams names -> musiczoo's fields (Magenta's command lines paste).
MAGENTA_HPARAMS = {"rnn_layer_sizes": "layer_sizes", "dropout_keep_prob": "dropout_rate"}


def _magenta_names(overrides, fields):
    """Overrides with Magenta's events-RNN hparam names translated (dropout_keep_prob k
    becomes dropout_rate 1 - k), where the config has musiczoo's field instead."""
    translated = {}
    for key, value in overrides.items():
        target = MAGENTA_HPARAMS.get(key)
        if target is None or key in fields or target not in fields:
            translated[key] = value
            continue
        if key == "dropout_keep_prob":
            try:
                keep = float(value)
            except (TypeError, ValueError):
                raise RegistryError(f"hparam dropout_keep_prob must be a number, got "
                                    f"{value!r}") from None
            if not 0.0 < keep <= 1.0:
                raise RegistryError(f"hparam dropout_keep_prob must lie in (0, 1], got {keep}")
            value = repr(1.0 - keep) if isinstance(value, str) else 1.0 - keep
        translated[target] = value
    return translated


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def config_to_dict(config):
    """JSON-ready dict of a config (tuples become lists, at any depth)."""
    return {k: _lists(v) for k, v in dataclasses.asdict(config).items()}


def config_from_dict(family_name, values):
    """Rebuilds a config from `config_to_dict` output (e.g. read from a bundle): tuple
    fields restored at any depth, unknown keys refused."""
    family = get_family(family_name)
    hints = typing.get_type_hints(family.config_class)
    fields = dataclasses.fields(family.config_class)
    known = {f.name for f in fields}
    unknown = set(values) - known
    if unknown:
        raise RegistryError(f"config has fields unknown to {family_name}: {sorted(unknown)}")
    missing = [f.name for f in fields if f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise RegistryError(f"config lacks the required field(s) {missing}")
    restored = {}
    for key, value in values.items():
        is_tuple = typing.get_origin(hints[key]) is tuple or hints[key] is tuple
        restored[key] = _tuples(value) if is_tuple else value
    return family.config_class(**restored)
