"""Commands for people, not DVC stages: they drive DVC (for example `dvc exp run`).

Importing stages first makes a tool started by a Python without the project's dependencies say
so in one line, as a stage does (stages/__init__.py)."""

import stages  # noqa: F401  (for its hook, before a tool imports any dependency)
