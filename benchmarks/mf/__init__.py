"""Multi-fidelity benchmark on the LCBench surrogate with ``epoch`` as the fidelity.

``surrogate`` evaluates learning curves and their cost, ``methods`` drives each optimiser
through its public API, ``runs`` runs and caches one JSON file per (method, task, seed), and
``report`` composes the tables, plots and the JSON summary. The command line is
``benchmarks/multifidelity.py``.
"""
