"""Reports and figures: what a search found, drawn as people otherwise draw it by hand.

>>> from tunewise.report import write_report
>>> write_report(study, "report.html")          # doctest: +SKIP

``write_report`` writes one self-contained HTML file (plotly's JavaScript embedded; it works
offline): a summary, the figures of ``tunewise.report.figures`` (history, effect of each
hyperparameter, a 3-D view and histograms with controls that trim value ranges, parallel
coordinates, importance and interactions, learning curves, the objective against time with the
Pareto front, where and why trials failed) and a sortable table of every trial. Needs plotly
(``pip install plotly``); importance needs scikit-learn.
"""

from __future__ import annotations

from .html import render, write_report

__all__ = ["write_report", "render"]
