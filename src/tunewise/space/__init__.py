"""Search spaces: hyperparameter types, the HyperParameters container, unit-cube encoding."""

from .container import HyperParameters, canonical_key, point_id
from .encoding import UnitEncoder, iter_grid, space_size
from .types import Boolean, Choice, Fixed, Float, HyperParameter, Int, from_config

__all__ = ["HyperParameters", "HyperParameter", "Int", "Float", "Choice", "Boolean", "Fixed",
           "from_config", "canonical_key", "point_id", "UnitEncoder", "iter_grid", "space_size"]
