"""The codec contract: extracted events <-> integer classes <-> model input arrays.

One codec object serves dataset creation and generation, so the two can never disagree.
Codecs are pure numpy and fully described by `get_config()` (stored in bundles).
"""
import inspect

import numpy as np

CODECS = {}


def register_codec(cls):
    CODECS[cls.__name__] = cls
    return cls


def codec_from_config(config):
    """Rebuilds a codec from `get_config()` output (`{"class": name, ...kwargs}`).

    The dict may come from a file (a bundle header): anything that does not describe a
    known codec with its own arguments is a ValueError saying what is wrong."""
    if not isinstance(config, dict):
        raise ValueError(f"a codec config must be an object, got {type(config).__name__}")
    config = dict(config)
    name = config.pop("class", None)
    if not isinstance(name, str):
        raise ValueError(f"the codec config has no 'class' naming the codec (known: "
                         f"{sorted(CODECS)})")
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; known: {sorted(CODECS)}")
    try:
        inspect.signature(CODECS[name]).bind(**config)
    except TypeError as error:
        raise ValueError(f"codec {name}: {error} (its arguments: "
                         f"{', '.join(inspect.signature(CODECS[name]).parameters)})") from None
    try:
        return CODECS[name](**config)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
        raise ValueError(f"codec {name}: invalid arguments ({type(error).__name__}: "
                         f"{error})") from None


class Codec:
    """Subclasses define `num_classes`, `input_size`, `events_to_ids`, `ids_to_events`
    and, unless inputs are one-hot, `inputs_from_ids`; constructor kwargs ==
    `get_config()` keys."""

    num_classes: int
    input_size: int

    def events_to_ids(self, events):
        """Class index of every event: int64 [T]."""
        raise NotImplementedError

    def ids_to_events(self, ids):
        raise NotImplementedError

    def inputs_from_ids(self, ids):
        """Model input for each position: float32 [T, input_size]. Default: one-hot."""
        ids = np.asarray(ids, np.int64)
        inputs = np.zeros((len(ids), self.num_classes), np.float32)
        inputs[np.arange(len(ids)), ids] = 1.0
        return inputs

    def labels_from_ids(self, ids):
        """Training label for each position's *next* event: int64 [T-1]. Default: the id."""
        return np.asarray(ids[1:], np.int64)

    def encode(self, events):
        """(inputs [T-1, input_size], labels [T-1]) teacher-forcing pair, as Magenta's
        EventSequenceEncoderDecoder.encode built it."""
        ids = self.events_to_ids(events)
        return self.inputs_from_ids(ids)[:-1], self.labels_from_ids(ids)

    def encode_batch(self, sequences):
        """`encode` for many event sequences; codecs may vectorise it across the batch."""
        return [self.encode(events) for events in sequences]

    def get_config(self):
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"
