"""A pickled object whose loading runs code: the yardstick of the checkpoint-safety tests."""
from pathlib import Path
from typing import Callable, Tuple, Union

__all__ = ['PicklePayload']


class PicklePayload:
    """Unpickling it would create the file ``path`` (arbitrary code execution)."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = str(path)

    def __reduce__(self) -> Tuple[Callable, tuple]:
        return (Path.touch, (Path(self.path), ))
