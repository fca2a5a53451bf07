"""The report page's content: the honest headline, metrics with their uncertainty, the paired
and seed comparisons, run parameters, figures and classification reports.

One list of blocks (stages.report.markup) becomes both README.md and index.html, so the two
pages always say the same thing. Numbers use fixed precision and nothing depends on the
clock, so the same inputs give the same page.
"""

from __future__ import annotations

import json
from statistics import mean, stdev
from typing import Any

from stages.report.comparison import ALPHA, Comparison
from stages.report.inputs import Architecture, RunResult
from stages.report.markup import Block, Heading, Image, Pad, Paragraph, Preformatted, Table, format_seconds

TITLE = "MNIST MLP report"


def page_blocks(
    params: dict[str, Any],
    architectures: list[Architecture],
    comparison: Comparison,
    overview: list[Image],
    n_train: int,
    pad_weights: str,
    made_by: str,
) -> list[Block]:
    """The whole page: summary, metrics, comparisons, parameters, shared figures, then one
    section per architecture."""
    first = architectures[0].chosen
    seeds = params["seeds"]
    blocks: list[Block] = [
        Heading(1, TITLE),
        Paragraph(
            f"{len(architectures)} architecture(s), each trained with {_seeds(seeds)} on {n_train} images "
            f"and tested on {len(first.predicted)}. {comparison.summary}"
        ),
        Paragraph(made_by),
        Heading(2, "Metrics"),
        Paragraph(
            f"Seed {comparison.seed}'s runs; the interval is the 95% Wilson score interval of the test "
            f"accuracy on {len(first.predicted)} images."
        ),
        _metrics_table(architectures),
        Heading(2, "Comparison"),
        *_comparison_blocks(architectures, comparison),
        Heading(2, "Draw a digit"),
        *_pad_blocks(architectures, pad_weights),
        Heading(2, "Parameters"),
        *_parameter_blocks(params),
        Heading(2, "Figures"),
        *overview,
        Heading(2, "Per-class F1"),
        Table(
            ["class", *(arch.name for arch in architectures)],
            [
                [label, *(f"{arch.chosen.per_class[label]['f1']:.4f}" for arch in architectures)]
                for label in _classes(first)
            ],
        ),
    ]
    for arch in architectures:
        blocks += _architecture_blocks(arch)
    return blocks


def _pad_blocks(architectures: list[Architecture], weights: str) -> list[Block]:
    runs = ", ".join(arch.chosen.name for arch in architectures)
    return [
        Paragraph(
            f"Draw a digit with a mouse, a pen or a finger: each architecture's model ({runs}) reads it "
            "in the browser after every stroke, prepared as MNIST's digits were (fitted into 20x20 pixels, "
            "centred by mass in 28x28) and scaled by the input contract its model file carries. The "
            "python -m tools.predict command does the same for image files."
        ),
        Pad(
            weights,
            _classes(architectures[0].chosen),
            note=f"The drawing pad is on index.html (open it in a browser). It loads the weights from "
            f"{weights}, a DVC-cached output of the publish stage: `dvc pull` or `dvc repro` brings it.",
        ),
    ]


def _seeds(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds ({', '.join(map(str, seeds))})"


def _classes(run: RunResult) -> list[str]:
    return sorted(run.per_class, key=int)


def accuracy_with_interval(metrics: dict[str, Any]) -> str:
    """'0.9610 (0.9518–0.9686)': the test accuracy and its 95% interval."""
    return f"{metrics['accuracy']:.4f} ({metrics['accuracy_low']:.4f}–{metrics['accuracy_high']:.4f})"


def _metrics_table(architectures: list[Architecture]) -> Table:
    several = len(architectures[0].runs) > 1
    header = ["architecture", "test accuracy (95% interval)"]
    header += ["mean ± std over seeds"] if several else []
    header += ["test loss", "macro F1", "parameters", "kept epoch", "training time"]
    rows = []
    for arch in architectures:
        run = arch.chosen
        row = [arch.name, accuracy_with_interval(run.metrics)]
        row += [_mean_std(arch.accuracies)] if several else []
        row += [
            f"{run.metrics['loss']:.4f}",
            f"{run.macro_f1:.4f}",
            f"{run.train['n_parameters']:,}",
            f"{run.train['selected_epoch']} of {arch.settings['epochs']}",
            format_seconds(run.seconds),
        ]
        rows.append(row)
    return Table(header, rows)


def _mean_std(values: list[float]) -> str:
    return f"{mean(values):.4f} ± {stdev(values):.4f}"


def _comparison_blocks(architectures: list[Architecture], comparison: Comparison) -> list[Block]:
    if len(architectures) < 2:
        return [Paragraph(comparison.headline)]
    level = f"{ALPHA:.0%}"
    blocks: list[Block] = [
        Paragraph(
            f"Paired test on the same {len(architectures[0].chosen.predicted)} test images (seed "
            f"{comparison.seed}'s runs): McNemar's exact test counts the images exactly one of two "
            f"architectures classifies correctly; p-values are Holm-corrected for the "
            f"{len(comparison.pairs)} comparisons. {comparison.headline}"
        ),
        Table(
            [
                "pair",
                "only the first right",
                "only the second right",
                "p",
                "p (Holm)",
                f"significant at {level}",
            ],
            [
                [
                    f"{test.first} vs {test.second}",
                    str(test.first_only),
                    str(test.second_only),
                    f"{test.p_value:.3g}",
                    f"{test.p_holm:.3g}",
                    "yes" if test.significant else "no",
                ]
                for test in comparison.pairs
            ],
        ),
        Paragraph(comparison.seed_sentence),
    ]
    if comparison.seed_tests:
        seeds = [run.seed for run in architectures[0].runs]
        blocks.append(
            Table(
                ["architecture", *(f"seed {seed}" for seed in seeds), "mean ± std"],
                [
                    [
                        arch.name,
                        *(f"{accuracy:.4f}" for accuracy in arch.accuracies),
                        _mean_std(arch.accuracies),
                    ]
                    for arch in architectures
                ],
            )
        )
        blocks.append(
            Table(
                ["pair", "p (rank-sum, exact)", "p (Holm)", f"beyond the seed spread at {level}"],
                [
                    [
                        f"{test.first} vs {test.second}",
                        f"{test.p_value:.3g}",
                        f"{test.p_holm:.3g}",
                        "yes" if test.significant else "no",
                    ]
                    for test in comparison.seed_tests
                ],
            )
        )
    return blocks


def _value(value: Any) -> str:
    """A params.yaml value as YAML flow text: 0.1, null, true, [128, 64], notebook."""
    return value if isinstance(value, str) else json.dumps(value)


def _parameter_blocks(params: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []
    for section in ("prepare", "train"):
        blocks += [
            Heading(3, section),
            Table(["key", "value"], [[k, _value(v)] for k, v in params[section].items()], False),
        ]
    rows = [
        [
            name,
            _value(entry["hidden_sizes"]),
            ", ".join(f"{k}: {_value(v)}" for k, v in entry.items() if k != "hidden_sizes") or "none",
        ]
        for name, entry in params["architectures"].items()
    ]
    return [
        *blocks,
        Heading(3, "architectures"),
        Table(["name", "hidden_sizes", "overrides of train"], rows, False),
        Heading(3, "seeds"),
        Paragraph(_value(params["seeds"])),
    ]


def _architecture_blocks(arch: Architecture) -> list[Block]:
    run = arch.chosen
    per_class = run.per_class
    rows = [
        [
            label,
            *(f"{per_class[label][key]:.4f}" for key in ("precision", "recall", "f1")),
            str(per_class[label]["support"]),
        ]
        for label in _classes(run)
    ]
    return [
        Heading(2, f"Architecture {arch.name}"),
        Paragraph(
            f"Hidden layers {_value(arch.settings['hidden_sizes'])}, "
            f"{run.train['n_parameters']:,} parameters, {arch.settings['epochs']} epochs. Seed {run.seed} "
            f"(figures and tables below): training time {format_seconds(run.seconds)}, "
            f"test accuracy {accuracy_with_interval(run.metrics)}, macro F1 {run.macro_f1:.4f}."
        ),
        Heading(3, f"{arch.name}: per-class scores (test set, seed {run.seed})"),
        Table(["class", "precision", "recall", "F1", "support"], rows),
        *arch.figures,
        Heading(3, f"{arch.name}: classification report (seed {run.seed})"),
        Preformatted(run.classification),
    ]
