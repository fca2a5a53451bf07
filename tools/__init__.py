"""Commands for people, not DVC stages: they drive DVC (for example `dvc exp run`)."""
