"""tf.distribute strategies by name: the same training code, only the strategy object differs.

- "default": one device (TensorFlow's default strategy);
- "mirrored": every GPU of this machine (`MirroredStrategy`);
- "multi_worker": several machines, each started with its own `TF_CONFIG`
  (`MultiWorkerMirroredStrategy`; see the README's "Scaling out").
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import UnknownNameError


def _default():
    import tensorflow as tf

    return tf.distribute.get_strategy()


def _mirrored():
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def _multi_worker():
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


STRATEGIES: dict[str, Callable] = {"default": _default, "mirrored": _mirrored, "multi_worker": _multi_worker}


def get_strategy(name: str = "default"):
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise UnknownNameError("distribution strategy", name, list(STRATEGIES)) from None
