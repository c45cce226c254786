"""What a search found: the trials as tables, statistics per hyperparameter value, and which
hyperparameters (and pairs of them) mattered.

>>> import tunewise
>>> from tunewise import analysis
>>> study = tunewise.Study("a", objective="loss", seed=0)
>>> study.optimize(lambda t: (t.hp.Float("x", -1.0, 1.0) - 0.3) ** 2 + 0.01 * t.hp.Int("n", 1, 4),
...                max_trials=30, show_progress=False)
>>> imp = analysis.importance(study)                      # doctest: +SKIP
>>> max(imp.main, key=imp.main.get)                       # doctest: +SKIP
'x'

Everything works with failed, pruned and running trials present (they are counted, not
scored) and with conditional hyperparameters (an inactive one is its own group, ``"inactive"``).
The data frames need pandas; ``importance`` needs scikit-learn.
"""

from __future__ import annotations

from .frames import steps_frame, trials_frame, value_stats
from .importance import Importance, importance

__all__ = ["trials_frame", "steps_frame", "value_stats", "importance", "Importance"]
