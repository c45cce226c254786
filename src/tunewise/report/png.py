"""The report's figures as PNG images (matplotlib), for papers and slides.

>>> from tunewise.report.png import write_pngs
>>> paths = write_pngs(study, "figures")          # doctest: +SKIP

One file per figure, drawn from the same numbers as the HTML report (``report.data``):

``history.png``     the objective per trial and the best so far;
``effects.png``     one panel per hyperparameter: the objective against its value;
``scatter3d.png``   the three most important hyperparameters in 3-D, coloured by the
                    objective (with exactly two tunable hyperparameters, a 2-D scatter);
``histogram.png``   the objective's histogram per value of the most important categorical
                    hyperparameter (or per third of the most important numeric one);
``parallel.png``    parallel coordinates of the hyperparameters and the objective;
``importance.png``  the hyperparameters' importance (main effects and top pairs);
``curves.png``      learning curves, pruned trials marked where they stopped;
``tradeoff.png``    two metrics against each other with the Pareto front;
``failures.png``    where the failed trials lay, and why they failed.

A figure without data is not written: ``importance.png`` without scikit-learn or with fewer
than 5 completed trials, ``curves.png`` when no trial reported intermediate values,
``failures.png`` when no trial failed, ``scatter3d.png`` with fewer than two tunable
hyperparameters, and every figure of the objective when no trial completed with a value.
The reason is logged (logger ``tunewise.report.png``, level INFO).

Each ``figure_<name>(study, metric=None)`` returns the matplotlib Figure (or None where the
file would be skipped) for further editing; close it with ``matplotlib.pyplot.close(fig)``.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Callable

from . import data

logger = logging.getLogger(__name__)

DPI = 120
FIGURES = ("history", "effects", "scatter3d", "histogram", "parallel", "importance",
           "curves", "tradeoff", "failures")
_UNSET: Any = object()  # "compute the importance" (None means: not available)
_INACTIVE = "inactive"


class _Skip(Exception):
    """A figure without data: the file is not written; the message says why."""


# -- set-up ----------------------------------------------------------------------------------

def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ValueError("PNG figures need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _importance(study: Any, metric: str | None) -> Any:
    """``analysis.importance`` for the figure's metric, or None where it is not available."""
    return _importance_or_reason(study, metric)[0]


def _importance_or_reason(study: Any, metric: str | None) -> tuple[Any, str]:
    name, _ = data.objective(study, metric)
    try:
        from ..analysis.importance import importance
        return importance(study, metric=name), ""
    except ImportError as e:
        return None, f"importance needs scikit-learn ({e}); pip install scikit-learn"
    except ValueError as e:
        return None, str(e)


def _ranked(columns: list[dict[str, Any]], imp: Any) -> list[dict[str, Any]]:
    """The columns, the most important first (declared order without importance)."""
    if imp is None or not imp.main:
        return list(columns)
    order = {c["name"]: i for i, c in enumerate(columns)}
    return sorted(columns, key=lambda c: (-imp.main.get(c["name"], -1.0), order[c["name"]]))


def _label(metric: str, direction: str | None = None) -> str:
    unit = " (s)" if metric == "duration" else ""
    if direction is None:
        return metric + unit
    return f"{metric}{unit} ({'higher' if direction == 'max' else 'lower'} is better)"


def _cmap(direction: str) -> str:
    """Bright is better either way."""
    return "viridis" if direction == "max" else "viridis_r"


def _short(value: Any, n: int = 14) -> str:
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def _grid(plt: Any, n: int, ncols: int, cell: tuple[float, float]) -> tuple[Any, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_axis_off()
    return fig, flat[:n]


def _jitter(n: int, width: float = 0.15, seed: int = 0) -> Any:
    import numpy as np

    return np.random.default_rng(seed).uniform(-width, width, size=n)


def _log_axis(axis: Any, values: list[float]) -> None:
    """A log scale labelled with plain numbers (1, 2, 5 × 10^k over a narrow range; powers of
    ten over a wide one), without matplotlib's crowded minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in values if v > 0]
    decades = math.log10(max(positive) / min(positive)) if positive else 0.0
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if decades > 2 else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _finish(fig: Any, **kwargs: Any) -> Any:
    fig.tight_layout(**kwargs)
    return fig


def _scored_points(study: Any, metric: str | None) -> dict[str, Any]:
    pts = data.points(study, metric)
    if not pts["rows"]:
        raise _Skip(f"no completed trial has a value of {pts['metric']!r}")
    return pts


# -- the figures -----------------------------------------------------------------------------

def _history(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    h = data.history(study, metric)
    if not h["number"]:
        raise _Skip(f"no completed trial has a value of {h['metric']!r}")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(h["number"], h["value"], s=18, color="C0", alpha=0.75, label="trial", zorder=2)
    ax.step(h["number"], h["best"], where="post", color="C3", linewidth=2, label="best so far",
            gid="best", zorder=3)
    ax.set_title(f"{study.name}: {h['metric']} per trial")
    ax.set_xlabel("trial")
    ax.set_ylabel(_label(h["metric"], h["direction"]))
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return _finish(fig)


def _effects(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    entries = data.effects(study, metric)
    if not entries:
        raise _Skip("the study has no tunable hyperparameter")
    if not any(e["y"] for e in entries):
        raise _Skip(f"no completed trial has a value of {entries[0]['metric']!r}")
    name, direction = entries[0]["metric"], entries[0]["direction"]
    fig, axes = _grid(plt, len(entries), 4, (3.4, 2.8))
    for ax, e in zip(axes, entries):
        ax.set_title(e["name"], fontsize=10)
        ax.set_ylabel(name, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if not e["y"]:
            ax.text(0.5, 0.5, "never active in a\ncompleted trial", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9, color="grey")
            continue
        if e["kind"] == data.NUMERIC:
            ax.scatter(e["x"], e["y"], s=14, alpha=0.7, color="C0")
            if e["log"]:
                ax.set_xscale("log")
                _log_axis(ax.xaxis, e["x"])
            ax.set_xlabel(e["name"] + (" (log)" if e["log"] else ""), fontsize=9)
        else:
            keys = list(e["groups"])
            groups = [e["groups"][k] for k in keys]
            pos = list(range(len(keys)))
            ax.boxplot(groups, positions=pos, widths=0.5, showfliers=False)
            for i, ys in zip(pos, groups):
                ax.scatter(i + _jitter(len(ys), seed=i), ys, s=10, alpha=0.6, color="C0", zorder=3)
            ax.set_xticks(pos, [_short(k, 10) for k in keys],
                          rotation=30 if len(keys) > 3 else 0, ha="right" if len(keys) > 3 else "center")
            ax.set_xlabel(e["name"], fontsize=9)
    fig.suptitle(f"{study.name}: {_label(name, direction)} by hyperparameter")
    return _finish(fig)


def _encoder(col: dict[str, Any], rows: list[dict[str, Any]]) -> Callable[[Any], float]:
    """A number per value: log10 on a log axis, the category's index for a categorical one."""
    if col["kind"] == data.CATEGORICAL:
        cats = _categories(col, rows)
        return lambda v: float(cats.index(v)) if v in cats else float("nan")
    if col["log"]:
        return lambda v: math.log10(v) if v is not None and v > 0 else float("nan")
    return lambda v: float(v) if v is not None else float("nan")


def _categories(col: dict[str, Any], rows: list[dict[str, Any]]) -> list[Any]:
    cats = list(col.get("categories") or [])
    for r in rows:  # values no longer declared (a changed space) go last
        v = r.get(col["name"])
        if v is not None and v not in cats:
            cats.append(v)
    return cats


def _scatter3d(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    pts = _scored_points(study, metric)
    rows = pts["rows"]
    columns = [c for c in _ranked(pts["columns"], imp) if any(r[c["name"]] is not None for r in rows)]
    if len(columns) < 2:
        raise _Skip(f"{len(columns)} tunable hyperparameter(s) with values; a scatter needs 2")
    # the most important ones that are active together in some trials (conditional spaces)
    chosen: list[dict[str, Any]] = []
    for c in columns:
        together = [r for r in rows if all(r[x["name"]] is not None for x in chosen + [c])]
        if together:
            chosen.append(c)
        if len(chosen) == 3:
            break
    if len(chosen) < 2:
        raise _Skip("no two hyperparameters are active together in a completed trial")
    use = [r for r in rows if all(r[c["name"]] is not None for c in chosen)]
    three = len(chosen) == 3
    # 3-D axes have no log scale: log10 of the value there; a 2-D plot uses a log axis
    encoders = [float if not three and c["kind"] == data.NUMERIC else _encoder(c, rows) for c in chosen]
    coords = [[enc(r[c["name"]]) for r in use] for c, enc in zip(chosen, encoders)]
    values = [r["value"] for r in use]
    order = sorted(range(len(use)), key=lambda i: values[i] if pts["direction"] == "max" else -values[i])
    coords = [[xs[i] for i in order] for xs in coords]
    values = [values[i] for i in order]
    fig = plt.figure(figsize=(7.5, 6) if three else (7, 5))
    ax = fig.add_subplot(projection="3d") if three else fig.add_subplot()
    sc = ax.scatter(*coords, c=values, cmap=_cmap(pts["direction"]), s=28,
                    edgecolors="k", linewidths=0.3, alpha=0.9)
    axes = [(ax.set_xlabel, ax.set_xticks, ax.xaxis, ax.set_xlim), (ax.set_ylabel, ax.set_yticks, ax.yaxis, ax.set_ylim)]
    if three:
        axes.append((ax.set_zlabel, ax.set_zticks, ax.zaxis, ax.set_zlim))
    for c, xs, (set_label, set_ticks, axis, set_lim) in zip(chosen, coords, axes):
        log = c["log"] and c["kind"] == data.NUMERIC
        set_label(c["name"] + ((" (log10)" if three else " (log)") if log else ""))
        if c["kind"] == data.CATEGORICAL:
            cats = _categories(c, rows)
            set_ticks(list(range(len(cats))), [_short(v, 10) for v in cats])
            set_lim(-0.5, len(cats) - 0.5)
        elif log and not three:
            (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
            _log_axis(axis, xs)
    fig.colorbar(sc, ax=ax, shrink=0.7, pad=0.1 if three else 0.02, label=_label(pts["metric"]))
    names = ", ".join(c["name"] for c in chosen)
    note = "" if len(use) == len(rows) else f" ({len(use)} of {len(rows)} trials, where all are active)"
    ax.set_title(f"{study.name}: {pts['metric']} over {names}{note}", fontsize=10)
    return _finish(fig)


def _histogram(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    import numpy as np

    pts = _scored_points(study, metric)
    rows = pts["rows"]
    active = [c for c in _ranked(pts["columns"], imp) if any(r[c["name"]] is not None for r in rows)]
    cat = next((c for c in active if c["kind"] == data.CATEGORICAL), None)
    num = next((c for c in active if c["kind"] == data.NUMERIC), None)
    groups: dict[str, list[float]] = {}
    by = None
    if cat is not None:
        by = cat["name"]
        for v in _categories(cat, rows):
            groups[_short(v)] = [r["value"] for r in rows if r[by] == v]
    elif num is not None:
        by = num["name"]
        xs = np.array([r[by] for r in rows if r[by] is not None], dtype=float)
        q1, q2 = (float(q) for q in np.quantile(xs, [1 / 3, 2 / 3]))
        bins = [(f"≤ {_short(q1)}", lambda x: x <= q1), (f"{_short(q1)} – {_short(q2)}", lambda x: q1 < x <= q2),
                (f"> {_short(q2)}", lambda x: x > q2)]
        for label, inside in bins:
            groups[label] = [r["value"] for r in rows if r[by] is not None and inside(r[by])]
    else:
        groups["all trials"] = [r["value"] for r in rows]
    if by is not None:
        groups[_INACTIVE] = [r["value"] for r in rows if r[by] is None]
    groups = {k: v for k, v in groups.items() if v}
    values = np.array([r["value"] for r in rows], dtype=float)
    edges = np.histogram_bin_edges(values, bins=min(20, max(5, int(math.sqrt(len(values))) + 1)))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (k, ys) in enumerate(groups.items()):
        ax.hist(ys, bins=edges, alpha=0.5, color=f"C{i % 10}", edgecolor=f"C{i % 10}",
                label=f"{k} (n={len(ys)})")
    ax.set_xlabel(_label(pts["metric"], pts["direction"]))
    ax.set_ylabel("trials")
    ax.legend(title=by, fontsize=8, title_fontsize=9)
    ax.set_title(f"{study.name}: {pts['metric']}" + (f" by {by}" if by else ""))
    ax.grid(alpha=0.3)
    return _finish(fig)


def _parallel(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    pts = _scored_points(study, metric)
    rows = pts["rows"]
    columns = [c for c in pts["columns"] if any(r[c["name"]] is not None for r in rows)]
    off = -0.12  # where an inactive (conditional) hyperparameter's line passes
    axes_values: list[list[float]] = []
    for c in columns:
        enc = _encoder(c, rows)
        xs = [enc(r[c["name"]]) for r in rows]
        if c["kind"] == data.CATEGORICAL:
            lo, hi = 0.0, float(max(len(_categories(c, rows)) - 1, 1))
        else:
            finite = [x for x in xs if not math.isnan(x)]
            lo, hi = min(finite), max(finite)
        span = hi - lo
        axes_values.append([off if math.isnan(x) else (0.5 if span == 0 else (x - lo) / span) for x in xs])
    values = [r["value"] for r in rows]
    lo, hi = min(values), max(values)
    axes_values.append([0.5 if hi == lo else (v - lo) / (hi - lo) for v in values])
    names = [c["name"] for c in columns] + [pts["metric"]]
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * n + 2), 4.8))
    order = sorted(range(len(rows)), key=lambda i: values[i] if pts["direction"] == "max" else -values[i])
    segments = [[(j, axes_values[j][i]) for j in range(n)] for i in order]
    norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
    cmap = plt.get_cmap(_cmap(pts["direction"]))
    lines = LineCollection(segments, colors=[cmap(norm(values[i])) for i in order], linewidths=1.0, alpha=0.7)
    ax.add_collection(lines)
    for j in range(n):
        ax.axvline(j, color="k", linewidth=0.8)
    for j, c in enumerate(columns):  # each axis's range (or categories) as text
        if c["kind"] == data.CATEGORICAL:
            cats = _categories(c, rows)
            if len(cats) <= 8:
                for k, v in enumerate(cats):
                    ax.text(j + 0.04, k / max(len(cats) - 1, 1) if len(cats) > 1 else 0.5, _short(v, 10),
                            fontsize=7, va="center")
        else:
            xs = [r[c["name"]] for r in rows if r[c["name"]] is not None]
            ax.text(j + 0.04, 1.0, _short(float(max(xs))), fontsize=7, va="bottom")
            ax.text(j + 0.04, 0.0, _short(float(min(xs))), fontsize=7, va="top")
        if any(r[c["name"]] is None for r in rows):
            ax.text(j + 0.04, off, "off", fontsize=7, va="center", color="grey")
    ax.text(n - 1 + 0.04, 1.0, _short(float(hi)), fontsize=7, va="bottom")
    ax.text(n - 1 + 0.04, 0.0, _short(float(lo)), fontsize=7, va="top")
    ax.set_xlim(-0.2, n - 1 + 0.5)
    ax.set_ylim(off - 0.08, 1.08)
    ax.set_xticks(list(range(n)), [nm + (" (log)" if j < len(columns) and columns[j]["log"] else "")
                                   for j, nm in enumerate(names)],
                  rotation=30 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks([])
    ax.set_ylabel("scaled to [0, 1] per axis")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=_label(pts["metric"], pts["direction"]))
    ax.set_title(f"{study.name}: parallel coordinates coloured by {pts['metric']}")
    return _finish(fig)


def _importance_figure(plt: Any, study: Any, metric: str | None, imp: Any, top_pairs: int = 5) -> Any:
    if imp is None:
        raise _Skip(_importance_or_reason(study, metric)[1] or "importance is not available")
    mains = sorted(imp.main.items(), key=lambda kv: -kv[1])
    pairs = sorted(imp.pairs.items(), key=lambda kv: -kv[1])[:top_pairs]
    labels = [k for k, _ in mains] + [f"{a} × {b}" for (a, b), _ in pairs]
    widths = [v for _, v in mains] + [v for _, v in pairs]
    colours = ["C0"] * len(mains) + ["C1"] * len(pairs)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.32 * len(labels) + 1.3)))
    ax.barh(range(len(labels)), widths, color=colours)
    ax.set_yticks(list(range(len(labels))), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"fraction of the variance of {imp.metric or data.objective(study, metric)[0]}")
    ax.set_xlim(0, max(max(widths, default=0.0) * 1.1, 0.05))
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="C0", label="main effect"), Patch(color="C1", label="interaction")],
              loc="lower right", fontsize=8)
    r2 = "" if imp.r2 is None else f", surrogate R² {imp.r2:.2f}"
    ax.set_title(f"{study.name}: hyperparameter importance ({imp.trials} trials{r2})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _finish(fig)


def _curves(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    from matplotlib.lines import Line2D

    cv = data.curves(study, metric)
    if not cv["curves"]:
        raise _Skip(f"no trial reported intermediate values of {cv['metric']!r}")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = {"completed": ("C0", 1.2, 0.8), "pruned": ("C3", 0.9, 0.6)}
    for c in cv["curves"]:
        colour, width, alpha = styles.get(c["state"], ("grey", 0.9, 0.6))
        ax.plot(c["step"], c["value"], color=colour, linewidth=width, alpha=alpha)
        if c["state"] == "pruned":
            ax.plot(c["step"][-1], c["value"][-1], marker="x", color=colour, markersize=7, mew=2)
    states = {c["state"] for c in cv["curves"]}
    handles = [Line2D([], [], color="C0", label="completed")] if "completed" in states else []
    if "pruned" in states:
        handles.append(Line2D([], [], color="C3", marker="x", mew=2, label="pruned (stopped at x)"))
    if states - {"completed", "pruned"}:
        handles.append(Line2D([], [], color="grey", label="other (" + ", ".join(sorted(states - {"completed", "pruned"})) + ")"))
    ax.legend(handles=handles, fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel(_label(cv["metric"], cv["direction"]))
    ax.set_title(f"{study.name}: learning curves ({len(cv['curves'])} trials)")
    ax.grid(alpha=0.3)
    return _finish(fig)


def _tradeoff(plt: Any, study: Any, metric: str | None, imp: Any) -> Any:
    multi = len(study.objectives) > 1  # the two objectives; else the metric against duration
    td = data.tradeoff(study) if metric is None or multi else data.tradeoff(study, y_metric=metric)
    if not td["number"]:
        raise _Skip(f"no completed trial has both {td['x_metric']!r} and {td['y_metric']!r}")
    fig, ax = plt.subplots(figsize=(7, 4.8))
    rest = [i for i, f in enumerate(td["front"]) if not f]
    front = sorted((i for i, f in enumerate(td["front"]) if f), key=lambda i: (td["x"][i], td["y"][i]))
    ax.scatter([td["x"][i] for i in rest], [td["y"][i] for i in rest], s=16, color="C0", alpha=0.5,
               label="trial")
    ax.plot([td["x"][i] for i in front], [td["y"][i] for i in front], "-o", color="C3", markersize=6,
            linewidth=1.5, label=f"Pareto front ({len(front)})", gid="front")
    ax.set_xlabel(_label(td["x_metric"], td["x_direction"]))
    ax.set_ylabel(_label(td["y_metric"], td["y_direction"]))
    ax.set_title(f"{study.name}: {td['y_metric']} against {td['x_metric']}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig)


def _failures(plt: Any, study: Any, metric: str | None, imp: Any, top_reasons: int = 3) -> Any:
    fl = data.failures(study)
    rows = fl["rows"]
    n_failed = sum(r["failed"] for r in rows)
    if not n_failed:
        raise _Skip("no trial failed")
    cats = {c["name"]: c for c in data.points(study, metric)["columns"]}  # failures lacks categories
    columns = [c for c in fl["columns"] if any(r[c["name"]] is not None for r in rows)]
    ncols = max(1, min(3, len(columns)))
    nrows = max(1, math.ceil(len(columns) / ncols))
    top = fl["reasons"][:top_reasons]
    box = 0.25 + 0.17 * (len(top) + 1 + (len(fl["reasons"]) > top_reasons))  # inches of text
    fig = plt.figure(figsize=(3.6 * ncols, 1.6 * nrows + box + 0.6))
    grid = fig.add_gridspec(nrows + 1, ncols, height_ratios=[1.6] * nrows + [box])
    for k, c in enumerate(columns):
        ax = fig.add_subplot(grid[k // ncols, k % ncols])
        use = [r for r in rows if r[c["name"]] is not None]
        if c["kind"] == data.CATEGORICAL:
            labels = _categories(cats.get(c["name"], c), use)
            xs = [float(labels.index(r[c["name"]])) for r in use]
            xs = [x + j for x, j in zip(xs, _jitter(len(xs), 0.2, seed=k))]
            ax.set_xticks(list(range(len(labels))), [_short(v, 10) for v in labels], fontsize=7)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            xs = [float(r[c["name"]]) for r in use]
            if c["log"]:
                ax.set_xscale("log")
                _log_axis(ax.xaxis, xs)
            ax.tick_params(axis="x", labelsize=7)
        ys = _jitter(len(use), 0.35, seed=100 + k)
        ok = [i for i, r in enumerate(use) if not r["failed"]]
        bad = [i for i, r in enumerate(use) if r["failed"]]
        ax.scatter([xs[i] for i in ok], [ys[i] for i in ok], s=10, color="0.55", alpha=0.6)
        ax.scatter([xs[i] for i in bad], [ys[i] for i in bad], s=16, color="red", alpha=0.9)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
        ax.set_xlabel(c["name"] + (" (log)" if c["log"] else ""), fontsize=8)
        ax.set_title(f"{c['name']}: {sum(r['failed'] for r in use)} of {len(use)} failed", fontsize=8)
    text = fig.add_subplot(grid[nrows, :])
    text.set_axis_off()
    lines = [f"{r['count']}× {_short(r['error'], 110)}" for r in top]
    more = len(fl["reasons"]) - top_reasons
    if more > 0:
        lines.append(f"… and {more} other reason(s)")
    text.text(0.0, 1.0, "Top reasons:\n" + "\n".join(lines), va="top", ha="left", fontsize=8,
              family="monospace", transform=text.transAxes,
              bbox={"boxstyle": "round", "facecolor": "#fff3f3", "edgecolor": "red"})
    fig.suptitle(f"{study.name}: {n_failed} of {len(rows)} finished trials failed (red)")
    return _finish(fig)


_BUILDERS: dict[str, Callable[..., Any]] = {
    "history": _history, "effects": _effects, "scatter3d": _scatter3d, "histogram": _histogram,
    "parallel": _parallel, "importance": _importance_figure, "curves": _curves,
    "tradeoff": _tradeoff, "failures": _failures,
}


def _figure(name: str, study: Any, metric: str | None, importance: Any) -> Any:
    plt = _pyplot()
    if importance is _UNSET:
        importance = _importance(study, metric) if name in ("scatter3d", "histogram", "importance") else None
    try:
        return _BUILDERS[name](plt, study, metric, importance)
    except _Skip as e:
        logger.info("No %s figure for study %r: %s.", name, study.name, str(e).rstrip("."))
        return None


# -- public ----------------------------------------------------------------------------------

def figure_history(study: Any, metric: str | None = None) -> Any:
    """The objective per trial (dots) and the best so far (a step line, gid ``"best"``)."""
    return _figure("history", study, metric, None)


def figure_effects(study: Any, metric: str | None = None) -> Any:
    """One panel per hyperparameter: scatter (numeric) or box plot and points (categorical)."""
    return _figure("effects", study, metric, None)


def figure_scatter3d(study: Any, metric: str | None = None, importance: Any = _UNSET) -> Any:
    """The three most important hyperparameters that are active together, coloured by the
    objective (two: a 2-D scatter; fewer: None). ``importance``: an ``analysis.Importance``
    to rank by (default: computed; None: the declared order)."""
    return _figure("scatter3d", study, metric, importance)


def figure_histogram(study: Any, metric: str | None = None, importance: Any = _UNSET) -> Any:
    """Histograms of the objective per value of the most important categorical
    hyperparameter (else per third of the most important numeric one)."""
    return _figure("histogram", study, metric, importance)


def figure_parallel(study: Any, metric: str | None = None) -> Any:
    """Parallel coordinates: each hyperparameter's axis scaled to [0, 1] (log10 on a log
    axis, the index for a categorical one, inactive ones below at "off"), then the objective."""
    return _figure("parallel", study, metric, None)


def figure_importance(study: Any, metric: str | None = None, importance: Any = _UNSET) -> Any:
    """Main effects and the top pairs as horizontal bars; None where importance is unavailable."""
    return _figure("importance", study, metric, importance)


def figure_curves(study: Any, metric: str | None = None) -> Any:
    """Learning curves; pruned trials in red with an x at their last step."""
    return _figure("curves", study, metric, None)


def figure_tradeoff(study: Any, metric: str | None = None) -> Any:
    """``data.tradeoff``: the first two objectives of a multi-objective study (whatever
    ``metric``), else ``metric`` (default: the objective) against the trial's duration; the
    Pareto front connected (gid ``"front"``)."""
    return _figure("tradeoff", study, metric, None)


def figure_failures(study: Any, metric: str | None = None) -> Any:
    """Each hyperparameter's values over the finished trials, failed ones in red, and the
    most frequent errors; None when no trial failed."""
    return _figure("failures", study, metric, None)


def write_pngs(study: Any, out_dir: str | os.PathLike[str], metric: str | None = None) -> list[str]:
    """Write the study's figures as PNG files (dpi 120) into ``out_dir`` (created if needed)
    and return their paths, in the order of ``FIGURES``. Figures without data are skipped
    (see the module's docstring); ValueError if matplotlib is not installed."""
    plt = _pyplot()
    os.makedirs(out_dir, exist_ok=True)
    imp = _importance(study, metric)
    written = []
    for name in FIGURES:
        fig = _figure(name, study, metric, imp)
        if fig is None:
            continue
        path = os.path.join(os.fspath(out_dir), f"{name}.png")
        try:
            fig.savefig(path, dpi=DPI)
        finally:
            plt.close(fig)
        written.append(path)
    return written
