"""How long the report stage takes on the committed results: `python benchmarks/report_time.py`.

Runs `python -m stages.report` with dvc.yaml's command, writing into a temporary folder so the
committed pages stay as they are, `--repeats` times, and prints each wall time and the median.
Run it from the project root after `dvc repro` (it needs the outputs of every stage).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
from ruamel.yaml import YAML

from benchmarks.results import save

OUTPUTS = ("--figures", "--markdown", "--html", "--curves")


def report_command(folder: Path) -> list[str]:
    """dvc.yaml's report command, its outputs redirected into `folder`."""
    words = shlex.split(
        YAML(typ="safe", pure=True).load(Path("dvc.yaml").read_text())["stages"]["report"]["cmd"]
    )
    for flag in OUTPUTS:
        index = words.index(flag) + 1
        words[index] = str(folder / Path(words[index]).name)
    return [sys.executable, *words[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        command = report_command(Path(folder))
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds.append(time.perf_counter() - start)
    save(__file__, {"seconds": seconds, "median_seconds": statistics.median(seconds)})
    print(
        "report stage: "
        + ", ".join(f"{s:.2f} s" for s in seconds)
        + f"; median {statistics.median(seconds):.2f} s"
    )


if __name__ == "__main__":
    main()
