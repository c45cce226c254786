"""tunewise: hyperparameter tuning for neural networks.

>>> import tunewise
>>> study = tunewise.Study("quick", objective="loss", seed=1)
>>> study.optimize(lambda t: {"loss": (t.hp.Float("x", -1.0, 1.0) - 0.3) ** 2},
...                max_trials=10, show_progress=False)
>>> study.best_trial.state.value
'completed'
"""

from . import schedulers
from .execution.dask import DaskExecutor
from .errors import (FailedTrialError, FatalError, SearchFinishedError, SpaceError, SpaceExhaustedError,
                     TrialPruned, TrialsPendingError)
from .objective import Objective
from .space import HyperParameters
from .study import Study, load_study
from .trial import FrozenTrial, Trial, TrialState

__version__ = "0.1.0"

__all__ = ["DaskExecutor", "HyperParameters", "Objective", "Study", "load_study", "Trial", "FrozenTrial",
           "TrialState", "FailedTrialError", "FatalError", "TrialPruned", "SpaceError", "SpaceExhaustedError",
           "SearchFinishedError", "TrialsPendingError", "schedulers", "__version__"]
