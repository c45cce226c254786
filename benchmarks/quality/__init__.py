"""The search-quality benchmark: problems, sampler adapters, cached runs and the report.

Entry points: ``benchmarks/search_quality.py`` and ``benchmarks/sampler_overhead.py``.
"""
