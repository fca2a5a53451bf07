"""Every experiment on one line: `python -m tools.table` (`make experiments`).

`dvc exp show` lists every metric and parameter in its own column, which no terminal fits.
This reads its JSON and prints, per experiment, the parameters it changed from its baseline
commit and each architecture's test accuracy (the mean over its seeds), in at most 100 columns.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Iterator, Sequence
from statistics import mean
from typing import Any

from stages.common.runner import StageError

WIDTH = 100
METRICS_FILE = re.compile(r"reports/metrics/(?P<arch>.+)-(?P<seed>\d+)\.json$")


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """{'train.learning_rate': 0.1, 'architectures.deep.hidden_sizes': [256, ...], ...}."""
    if not isinstance(params, dict):
        return {prefix.rstrip("."): params}
    return {
        key: value
        for name, item in params.items()
        for key, value in flatten(item, f"{prefix}{name}.").items()
    }


def accuracies(metrics: dict[str, Any]) -> dict[str, float]:
    """{architecture: mean test accuracy over its seeds} from `dvc exp show`'s metrics of one revision."""
    by_arch: dict[str, list[float]] = {}
    for path, content in metrics.items():
        if (match := METRICS_FILE.search(path)) and "accuracy" in content.get("data", {}):
            by_arch.setdefault(match["arch"], []).append(content["data"]["accuracy"])
    return {arch: mean(values) for arch, values in by_arch.items()}


def rows(experiments: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, float]]]:
    """(name, changed params, accuracies) for the workspace, each baseline and its experiments."""
    for baseline in experiments:
        data = baseline.get("data") or {}
        base = flatten((data.get("params") or {}).get("params.yaml", {}).get("data", {}))
        label = "workspace" if baseline["rev"] == "workspace" else baseline.get("name") or baseline["rev"][:7]
        yield label, {}, accuracies(data.get("metrics") or {})
        for experiment in baseline.get("experiments") or []:
            for revision in experiment["revs"]:
                revision_data = revision.get("data") or {}
                params = flatten((revision_data.get("params") or {}).get("params.yaml", {}).get("data", {}))
                changed = {key: value for key, value in params.items() if base.get(key) != value}
                changed |= {f"~{key}": None for key in base if key not in params}
                yield (
                    f"  {revision.get('name') or revision['rev'][:7]}",
                    changed,
                    accuracies(revision_data.get("metrics") or {}),
                )


def format_table(lines: list[tuple[str, dict[str, Any], dict[str, float]]]) -> str:
    """The rows as text: name, changed params (cut to fit), one accuracy column per architecture."""
    archs = list(dict.fromkeys(arch for _, _, found in lines for arch in found))
    name_width = max([len("experiment"), *(len(name) for name, _, _ in lines)])
    arch_widths = [max(len(arch), 6) for arch in archs]
    params_width = max(WIDTH - name_width - sum(width + 2 for width in arch_widths) - 2, 12)
    header = [f"{'experiment':<{name_width}}  {'changed params':<{params_width}}"]
    header += [f"  {arch:>{width}}" for arch, width in zip(archs, arch_widths, strict=True)]
    out = ["".join(header)]
    for name, changed, found in lines:
        text = ", ".join(
            f"{key}={json.dumps(value)}" if value is not None else key for key, value in changed.items()
        )
        text = text or "-"
        if len(text) > params_width:
            text = text[: params_width - 1] + "…"
        cells = [f"{name:<{name_width}}  {text:<{params_width}}"]
        cells += [
            f"  {found[arch]:>{width}.4f}" if arch in found else f"  {'':>{width}}"
            for arch, width in zip(archs, arch_widths, strict=True)
        ]
        out.append("".join(cells).rstrip())
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="experiments of every commit (dvc exp show -A)")
    args = parser.parse_args(argv)
    command = ["dvc", "exp", "show", "--json", *(["-A"] if args.all else [])]
    shown = subprocess.run(command, capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        raise StageError(f"`{' '.join(command)}` failed: {shown.stderr.strip()}")
    print(format_table(list(rows(json.loads(shown.stdout)))))


if __name__ == "__main__":
    try:
        main()
    except StageError as error:
        raise SystemExit(f"table: error: {error}") from None
