"""The report page's content: run parameters, metrics tables, figures and classification reports.

One list of blocks (stages.report.markup) becomes both README.md and index.html, so the two
pages always say the same thing. Numbers use fixed precision and nothing depends on the
clock, so the same inputs give the same page.
"""

from __future__ import annotations

import json
from typing import Any

from stages.report.charts import format_seconds
from stages.report.inputs import ArchitectureResult
from stages.report.markup import Block, Heading, Image, Paragraph, Preformatted, Table

TITLE = "MNIST MLP report"


def page_blocks(
    params: dict[str, Any], results: list[ArchitectureResult], overview: list[Image], n_train: int
) -> list[Block]:
    """The whole page: summary, metrics, parameters, shared figures, then one section per architecture."""
    best = max(results, key=lambda result: result.metrics["accuracy"])
    blocks: list[Block] = [
        Heading(1, TITLE),
        Paragraph(
            f"{len(results)} architecture(s) trained on {n_train} images and tested on "
            f"{best.metrics['n_samples']}. Best test accuracy: {best.name} ({best.metrics['accuracy']:.4f})."
        ),
        Heading(2, "Metrics"),
        _metrics_table(results),
        Heading(2, "Parameters"),
        *_parameter_blocks(params),
        Heading(2, "Figures"),
        *overview,
        Heading(2, "Per-class F1"),
        Table(
            ["class", *(result.name for result in results)],
            [
                [label, *(f"{result.metrics['per_class'][label]['f1']:.4f}" for result in results)]
                for label in _classes(results[0])
            ],
        ),
    ]
    for result in results:
        blocks += _architecture_blocks(result)
    return blocks


def _classes(result: ArchitectureResult) -> list[str]:
    return sorted(result.metrics["per_class"], key=int)


def _metrics_table(results: list[ArchitectureResult]) -> Table:
    header = [
        "architecture",
        "test accuracy",
        "test loss",
        "macro F1",
        "parameters",
        "epochs",
        "training time",
    ]
    rows = [
        [
            result.name,
            f"{result.metrics['accuracy']:.4f}",
            f"{result.metrics['loss']:.4f}",
            f"{result.metrics['macro_f1']:.4f}",
            f"{result.train['n_parameters']:,}",
            str(result.train["epochs"]),
            format_seconds(result.seconds),
        ]
        for result in results
    ]
    return Table(header, rows)


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
    ]


def _architecture_blocks(result: ArchitectureResult) -> list[Block]:
    per_class = result.metrics["per_class"]
    rows = [
        [
            label,
            *(f"{per_class[label][key]:.4f}" for key in ("precision", "recall", "f1")),
            str(per_class[label]["support"]),
        ]
        for label in _classes(result)
    ]
    return [
        Heading(2, f"Architecture {result.name}"),
        Paragraph(
            f"Hidden layers {_value(result.entry['hidden_sizes'])}, "
            f"{result.train['n_parameters']:,} parameters, {result.train['epochs']} epochs, "
            f"training time {format_seconds(result.seconds)}: "
            f"test accuracy {result.metrics['accuracy']:.4f}, macro F1 {result.metrics['macro_f1']:.4f}."
        ),
        Heading(3, f"{result.name}: per-class scores (test set)"),
        Table(["class", "precision", "recall", "F1", "support"], rows),
        *result.figures,
        Heading(3, f"{result.name}: classification report"),
        Preformatted(result.classification),
    ]
