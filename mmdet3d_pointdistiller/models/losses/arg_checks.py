"""Constructor argument checks shared by the KD losses: each returns the normalised value or
raises ``ValueError`` naming the argument (the config key) and the value it got."""
import math
from numbers import Integral, Real
from typing import Any, Optional, Sequence


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> Optional[int]:
    """``value`` as an int >= 1 (or None when allowed); ValueError naming ``name`` otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def check_number(name: str, value: Any, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite float >= minimum (> minimum if ``strict``)."""
    if (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
            or value < minimum or (strict and value == minimum)):
        rel = '>' if strict else '>='
        raise ValueError(f'{name} must be a finite number {rel} {minimum:g}, got {value!r}')
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence) -> Any:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (not merely truthy: ``'False'`` from a CLI is refused)."""
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be a bool, got {value!r}')
    return value
