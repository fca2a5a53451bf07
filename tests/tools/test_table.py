"""The one-line-per-experiment view: changed params and each architecture's accuracy in 100 columns."""

from __future__ import annotations

from tools.table import WIDTH, format_table, rows


def _revision(rev: str, params: dict, accuracies: dict[str, float], name: str | None = None) -> dict:
    metrics = {
        f"reports/metrics/{run}.json": {"data": {"accuracy": value}} for run, value in accuracies.items()
    }
    return {
        "rev": rev,
        "name": name,
        "data": {"params": {"params.yaml": {"data": params}}, "metrics": metrics},
    }


BASE = {"train": {"learning_rate": 0.1, "epochs": 100}, "seeds": [42]}
SHOWN = [
    _revision("workspace", BASE, {"shallow-42": 0.9595, "deep-42": 0.963}),
    _revision("f6cd4bc0", BASE, {"shallow-42": 0.9595, "deep-42": 0.963}, name="main")
    | {
        "experiments": [
            {
                "name": "seeds",
                "revs": [
                    _revision(
                        "e1228b8",
                        BASE | {"seeds": [42, 43]},
                        {"shallow-42": 0.96, "shallow-43": 0.95, "deep-42": 0.97, "deep-43": 0.96},
                        name="seeds",
                    ),
                    _revision(
                        "a1b2c3d",
                        {
                            "train": {"learning_rate": 0.05 + 1e-9, "epochs": 100, "momentum": 0.9},
                            "seeds": [42],
                        }
                        | {"architectures": {"wide": {"hidden_sizes": [1024] * 40}}},
                        {"deep-42": 0.9},
                    ),
                ],
            }
        ]
    },
]


def test_each_experiment_shows_what_it_changed_and_its_mean_accuracy_per_architecture():
    # An experiment's line names only the params it changed and averages each architecture over seeds.
    lines = list(rows(SHOWN))
    assert [name for name, _, _ in lines] == ["workspace", "main", "  seeds", "  a1b2c3d"]
    name, changed, accuracies = lines[2]
    assert changed == {"seeds": [42, 43]} and accuracies == {"shallow": 0.955, "deep": 0.965}
    assert set(lines[3][1]) == {"train.learning_rate", "train.momentum", "architectures.wide.hidden_sizes"}


def test_the_table_fits_a_hundred_columns():
    # However long the changed params, every line fits 100 columns; cut values end in an ellipsis.
    table = format_table(list(rows(SHOWN)))
    assert all(len(line) <= WIDTH for line in table.splitlines())
    assert "seeds=[42, 43]" in table and "…" in table.splitlines()[4]
    assert table.splitlines()[0].split()[-2:] == ["shallow", "deep"]
