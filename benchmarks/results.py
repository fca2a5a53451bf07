"""Where each benchmark keeps its figures: benchmarks/results/SCRIPT.json, with when and on what
machine they were measured. tools/readme.py builds the README's speed tables from these files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
from stages.common.output import write_json
from tools.machine import machine_facts, now

FOLDER = Path(__file__).resolve().parent / "results"


def save(script: str, report: dict[str, Any]) -> Path:
    """Write `report` (plus the time and machine) to results/<script's name>.json, atomically."""
    path = FOLDER / f"{Path(script).stem}.json"
    machine = machine_facts()
    machine["load_average_at_end"] = machine.pop("load_average_at_start")  # taken now, as the run ends
    write_json(path, {**report, "measured": now(), "machine": machine})
    print(f"wrote {path.relative_to(FOLDER.parents[1])}", file=sys.stderr)
    return path
