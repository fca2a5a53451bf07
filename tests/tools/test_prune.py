"""Which leftovers `make prune` removes: the lock entries of items dvc.yaml no longer declares."""

from __future__ import annotations

from pathlib import Path

from tools.prune import stale


def test_only_items_no_longer_declared_are_stale_and_shared_outputs_stay():
    # small's items left params.yaml: their entries and outputs go, unless a current item declares them.
    lock = {
        "stages": {
            "train@tiny-42": {"outs": [{"path": "data/models/tiny-42.npz"}]},
            "train@small-42": {
                "outs": [{"path": "data/models/small-42.npz"}, {"path": "reports/shared.json"}]
            },
            "report": {"outs": [{"path": "reports/shared.json"}]},
        }
    }
    assert stale(lock, {"train@tiny-42", "report"}) == {"train@small-42": [Path("data/models/small-42.npz")]}
    assert stale(lock, {"train@tiny-42", "train@small-42", "report"}) == {}
