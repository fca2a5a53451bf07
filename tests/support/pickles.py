"""A pickle that leaves a trace when loaded: code from a data or model file must never run."""

from __future__ import annotations

UNPICKLED: list[bool] = []


def _record_unpickling() -> str:
    UNPICKLED.append(True)
    return "unpickled"


class Sentinel:
    """An object whose unpickling appends to UNPICKLED."""

    def __reduce__(self):
        return (_record_unpickling, ())
