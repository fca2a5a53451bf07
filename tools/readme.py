"""The README's measured numbers, generated from the files that hold them: `python -m tools.readme`.

Each block between `<!-- begin NAME -->` and `<!-- end NAME -->` in README.md is rendered here
from committed files: the default run's reports/, experiments/results/ (`make full-mnist`,
`make seed-study`) and benchmarks/results/. `--check` fails if a block differs from its files,
and a test runs it, so a new result can never leave a stale table behind.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlp.memory import n_parameters
from mlp.reading import UnreadableFileError, read_bytes, read_json
from stages.common.mnist import N_CLASSES, N_FEATURES
from stages.common.output import write_text
from stages.common.params import read_yaml
from stages.common.runner import StageError
from tools.entry import run_tool

README = Path("README.md")
MAX_README_BYTES = 1 << 20  # README.md: tens of kilobytes
BLOCK = re.compile(r"(<!-- begin (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end (?P=name) -->)", re.DOTALL)


def _json(path: str) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise StageError(f"{path} is missing; run what writes it (see the README) and commit it") from None
    except UnreadableFileError as error:
        raise StageError(f"{path} {error}; run what writes it (see the README) and commit it") from None


def _interval(run: dict[str, Any]) -> str:
    return f"{run['accuracy']:.4f} ({run['accuracy_low']:.4f}–{run['accuracy_high']:.4f})"


def _took(result: dict[str, Any]) -> str:
    """'took 3 min 54 s. Measured …': a named experiment's duration and where it ran."""
    minutes, seconds = divmod(result["seconds"], 60)
    return f"took {minutes} min {seconds} s. {_machine(result, 'started')}"


def _machine(result: dict[str, Any], when: str) -> str:
    machine = result["machine"]
    moment = "start" if "load_average_at_start" in machine else "end"
    load = ", ".join(f"{x:g}" for x in machine[f"load_average_at_{moment}"])
    return (
        f"Measured {result[when][:10]} on {machine['cores']} cores ({machine['processor']}, "
        f"{'; '.join(machine['blas'])}), load averages (1, 5, 15 min) {load} at the {moment}."
    )


def default_run() -> str:
    """The default run's table, from what git keeps of it: params.yaml and the test metrics (the
    training facts and times are DVC-cached; the report page shows them)."""
    params = read_yaml("params.yaml")
    seed = params["seeds"][0]
    lines = [
        "| architecture | hidden layers | parameters | test accuracy (95% interval) | test loss |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for arch, entry in params["architectures"].items():
        run = _json(f"reports/metrics/{arch}-{seed}.json")
        hidden = ", ".join(map(str, entry["hidden_sizes"]))
        parameters = n_parameters([N_FEATURES, *entry["hidden_sizes"], N_CLASSES])
        lines.append(f"| {arch} | {hidden} | {parameters:,} | {_interval(run)} | {run['loss']:.4f} |")
    return "\n".join(lines)


def seed_study() -> str:
    result = _json("experiments/results/seed-study.json")
    seeds, runs = result["params"]["seeds"], result["runs"]
    order = list(read_yaml("params.yaml")["architectures"])  # the README's order, where it can
    archs = sorted(
        result["params"]["architectures"], key=lambda a: (a not in order, a in order and order.index(a))
    )
    summary = result["seeds"]
    others = ", ".join(map(str, seeds[1:]))
    lines = [
        f"| architecture | seed {seeds[0]} (95% interval) | seeds {others} | "
        f"mean ± std over {len(seeds)} seeds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for arch in archs:
        rest = ", ".join(f"{runs[f'{arch}-{s}']['accuracy']:.4f}" for s in seeds[1:])
        spread = summary["accuracy"][arch]
        lines.append(
            f"| {arch} | {_interval(runs[f'{arch}-{seeds[0]}'])} | {rest} | "
            f"{spread['mean']:.4f} ± {spread['std']:.4f} |"
        )
    tests = ", ".join(f"{pair} p = {p:.3f}" for pair, p in summary["rank_sum_holm_p"].items())
    return "\n".join(lines) + (
        f"\n\nExact rank-sum tests over the seeds, Holm-corrected: {tests}. The experiment {_took(result)}"
    )


def full_mnist() -> str:
    result = _json("experiments/results/full-mnist.json")
    ((name, run),) = result["runs"].items()
    default_run = f"medium-{read_yaml('params.yaml')['seeds'][0]}"
    default = _json("reports/summary.json")[default_run] | _json(f"reports/metrics/{default_run}.json")
    sklearn = _json("benchmarks/results/sklearn_default.json")
    arch = result["params"]["architectures"][name.rsplit("-", 1)[0]]
    hidden = "-".join(map(str, arch["hidden_sizes"]))

    def row(label: str, accuracy: float, parameters: int, time: str) -> str:
        return f"| {label} | {1 - accuracy:.2%} | {accuracy:.2%} | {parameters:,} | {time} |"

    lines = [
        "| model | test error | test accuracy | parameters | training time (2 cores) |",
        "| --- | ---: | ---: | ---: | ---: |",
        row(
            "this project, default run (medium, 8,000 images)",
            default["accuracy"],
            default["n_parameters"],
            f"{default['train_seconds']:.1f} s",
        ),
        row(
            f"**this project, `full-mnist` ({hidden}, dropout, shifts"
            f"{', elastic distortions' if arch.get('elastic_alpha') else ''})**",
            run["accuracy"],
            run["n_parameters"],
            f"{run['train_seconds']:.0f} s",
        ),
        row(
            "scikit-learn `MLPClassifier()` defaults (100 hidden, Adam), measured here",
            sklearn["test_accuracy"],
            sklearn["n_parameters"],
            f"{sklearn['fit_seconds']:.0f} s ({sklearn['epochs']} epochs)",
        ),
    ]
    return "\n".join(lines) + (
        f"\n\nThe kept epoch (best validation accuracy) was {run['selected_epoch']} of {arch['epochs']}. "
        f"The whole experiment {_took(result)}"
    )


def speed() -> str:
    result = _json("benchmarks/results/train_throughput.json")
    lines = [
        "| batch | ours, samples/s | scikit-learn, samples/s | matrix products alone, samples/s "
        "| scikit-learn / ours | ours / matrix products |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["results"]:
        lines.append(
            f"| {row['batch_size']} | {row['ours_samples_per_s']:,.0f} | "
            f"{row['sklearn_samples_per_s']:,.0f} | {row['matmul_samples_per_s']:,.0f} | "
            f"{row['ratio']:.2f}x | {row['matmul_ratio']:.2f}x |"
        )
    history = result["history"]
    lines += [
        "",
        f"The per-epoch history (the test set evaluated every epoch) costs {history['fraction']:.1%} of a "
        f"default training ({history['fraction_with_training_set_pass']:.1%} with a pass over the training "
        "set as well, as before its train_* figures became running ones).",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    for target in result["targets"]:
        sign = "≤" if target["at_most"] else "≥"
        measured = "–" if target["measured"] is None else f"{target['measured']:.3g}"
        met = {None: "not measured", True: "yes", False: "no"}[target["met"]]
        lines.append(f"| {target['what']} {sign} {target['target']:g} | {measured} | {met} |")
    return (
        "\n".join(lines)
        + f"\n\n{result['data']}, one BLAS thread, CPU seconds, median of {result['repeats']} runs. "
        + _machine(result, "measured")
    )


def full_recipe() -> str:
    result = _json("benchmarks/results/full_recipe.json")
    return (
        f"An epoch took {result['epoch_seconds']:.2f} s, its matrix products alone "
        f"{result['matmul_seconds']:.2f} s ({result['matmul_gflops']:.0f} GFLOP/s): {result['ratio']:.2f}x "
        f"the machine's matrix-multiply limit. {_machine(result, 'measured')}"
    )


def report_time() -> str:
    result = _json("benchmarks/results/report_time.json")
    medians, runs = result["median_seconds"], len(result["seconds"]["report"])
    return (
        f"The report stage takes {medians['report']:.1f} s and the figures stage {medians['figures']:.1f} s "
        f"(medians of {runs}, alternating, `benchmarks/report_time.py`). {_machine(result, 'measured')}"
    )


BLOCKS: dict[str, Callable[[], str]] = {
    "default-run": default_run,
    "seed-study": seed_study,
    "full-mnist": full_mnist,
    "full-recipe": full_recipe,
    "speed": speed,
    "report-time": report_time,
}


def render(text: str) -> str:
    """`text` with every generated block rendered again from its files."""
    found = {match["name"] for match in BLOCK.finditer(text)}
    if found != set(BLOCKS):
        raise StageError(f"README.md has blocks {sorted(found)}, expected {sorted(BLOCKS)}")
    return BLOCK.sub(lambda match: f"{match[1]}{BLOCKS[match['name']]()}\n{match[4]}", text)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md is not what its files give")
    args = parser.parse_args(argv)
    try:
        text = read_bytes(README, MAX_README_BYTES).decode("utf-8")
    except (OSError, UnreadableFileError, UnicodeDecodeError) as error:
        raise StageError(
            f"README.md cannot be read ({error}); `git checkout README.md` brings it back"
        ) from None
    new = render(text)
    if args.check and new != text:
        raise StageError("README.md's generated blocks differ from their files; run `python -m tools.readme`")
    if new != text:
        write_text(README, new)
        print("readme: README.md updated")


if __name__ == "__main__":
    run_tool(main, "readme")
