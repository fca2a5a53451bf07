"""`safe_load` and `safe_dump` for the tests, with the project's one YAML library: ruamel.yaml,
which reads YAML 1.2 as DVC does (`1e-3` is a number)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML


def safe_load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def safe_dump(data: Any, sort_keys: bool = False) -> str:
    """Block-style YAML, in the mapping's order (sorted with `sort_keys`), as `dvc exp run -S` writes."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buffer = io.StringIO()
    yaml.dump(_sorted(data) if sort_keys else data, buffer)
    return buffer.getvalue()


def _sorted(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _sorted(data[key]) for key in sorted(data)}
    return [_sorted(item) for item in data] if isinstance(data, list) else data
