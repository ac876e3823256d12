"""``--cfg-options`` as ``mim train`` reads them, for code that builds a config itself."""
from typing import Sequence

from mmengine.config import Config, DictAction

__all__ = ['merge_cfg_options']


def merge_cfg_options(cfg: Config, options: Sequence[str]) -> Config:
    """Merge ``['key=value', ...]`` into ``cfg`` in place (values parsed by mmengine's
    ``DictAction``: lists, tuples, numbers, ``None``, booleans) and return it."""
    if options:
        cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in
                             (o.split('=', 1) for o in options)})
    return cfg
