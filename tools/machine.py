"""The machine a measurement ran on: what a timing (and bit-identity) depends on.

Recorded with every experiment result and benchmark result, so a number in the README says
where and under what load it was measured.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_info


def machine_facts() -> dict[str, Any]:
    """What the timings depend on: the processor, its cores, and how busy it was at the start."""
    cpuinfo = Path("/proc/cpuinfo")
    names = (
        [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if cpuinfo.exists()
        else []
    )
    return {
        "processor": names[0] if names else platform.processor(),
        "cores": os.cpu_count(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        # Results are bit-identical only with the same BLAS kernel (OPENBLAS_CORETYPE picks one).
        "blas": [
            f"{i['internal_api']} {i['version']} {i.get('architecture')}"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        ],
    }


def now() -> str:
    """The current UTC time, to the second, ISO 8601."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
