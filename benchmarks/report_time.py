"""How long the figures and report stages take on the committed results: `python benchmarks/report_time.py`.

Runs `python -m stages.figures` and `python -m stages.report` with dvc.yaml's commands, their
outputs redirected into a temporary folder so the committed ones stay as they are, alternating,
`--repeats` times each, and prints each wall time and the medians. The report stage is what an
experiment whose other stages all come from DVC's run-cache still runs. Run it from the project
root after `dvc repro` (it needs the outputs of every stage).
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

OUTPUTS = {"figures": ("--figures",), "report": ("--markdown", "--html", "--curves", "--summary")}


def command(stage: str, folder: Path) -> list[str]:
    """dvc.yaml's command of `stage`, its outputs redirected into `folder`."""
    words = shlex.split(
        YAML(typ="safe", pure=True).load(Path("dvc.yaml").read_text())["stages"][stage]["cmd"]
    )
    for flag in OUTPUTS[stage]:
        index = words.index(flag) + 1
        words[index] = str(folder / Path(words[index]).name)
    return [sys.executable, *words[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {stage: [] for stage in OUTPUTS}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for stage in OUTPUTS:
                start = time.perf_counter()
                subprocess.run(command(stage, Path(folder)), check=True, capture_output=True)
                seconds[stage].append(time.perf_counter() - start)
    medians = {stage: statistics.median(times) for stage, times in seconds.items()}
    save(__file__, {"seconds": seconds, "median_seconds": medians})
    for stage, times in seconds.items():
        print(
            f"{stage} stage: " + ", ".join(f"{s:.2f} s" for s in times) + f"; median {medians[stage]:.2f} s"
        )


if __name__ == "__main__":
    main()
