"""Array type aliases for the library's type hints (numpy.typing); nothing here runs.

The model computes in float32 or float64, so its arrays are typed as any floating dtype, and
labels as any integer dtype (validation turns them into int64). Shapes are in the docstrings.
"""

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
