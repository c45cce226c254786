"""The report's figures as plotly figures, each also usable on its own.

>>> from tunewise.report import figures
>>> fig = figures.history(study)        # doctest: +SKIP
>>> fig.show()                          # doctest: +SKIP

Every function returns a ``plotly.graph_objects.Figure`` drawn from ``tunewise.report.data``
(needs plotly: ``pip install plotly``). A figure that has nothing to show (no intermediate
results, no failures…) raises ``NoData`` with the reason.
"""

from __future__ import annotations

import math
from typing import Any

from . import data as D


class NoData(ValueError):
    """The study has nothing this figure could show; the message says why."""


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError as exc:
        raise ImportError("tunewise's figures need plotly: pip install plotly") from exc
    return go


def _layout(fig: Any, title: str, **kwargs: Any) -> Any:
    fig.update_layout(title=title, template="plotly_white", margin=dict(l=60, r=20, t=50, b=50),
                      **kwargs)
    return fig


def history(study: Any, metric: str | None = None) -> Any:
    """Each trial's value and the best so far."""
    go = _go()
    h = D.history(study, metric)
    if not h["number"]:
        raise NoData("no completed trial has a value yet")
    fig = go.Figure([
        go.Scatter(x=h["number"], y=h["value"], mode="markers", name="trial", opacity=0.7),
        go.Scatter(x=h["number"], y=h["best"], mode="lines", line_shape="hv", name="best so far"),
    ])
    return _layout(fig, f"Optimisation history ({h['metric']}, {h['direction']})",
                   xaxis_title="trial", yaxis_title=h["metric"])


def effects(study: Any, metric: str | None = None) -> Any:
    """The objective against each hyperparameter: scatter for numbers, box and points per
    value for categories."""
    from plotly.subplots import make_subplots

    go = _go()
    items = [e for e in D.effects(study, metric) if e["x"]]
    if not items:
        raise NoData("no completed trial has a value yet")
    cols = min(3, len(items))
    rows = math.ceil(len(items) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[e["name"] for e in items],
                        vertical_spacing=min(0.12, 0.6 / rows))
    for i, e in enumerate(items):
        r, c = i // cols + 1, i % cols + 1
        if e["kind"] == D.NUMERIC:
            fig.add_trace(go.Scatter(x=e["x"], y=e["y"], mode="markers", name=e["name"],
                                     text=[f"trial {n}" for n in e["number"]], showlegend=False,
                                     marker=dict(size=6, opacity=0.7)), row=r, col=c)
            if e["log"]:
                fig.update_xaxes(type="log", row=r, col=c)
        else:
            for value, ys in e["groups"].items():
                fig.add_trace(go.Box(y=ys, name=value, boxpoints="all", jitter=0.4, pointpos=0,
                                     showlegend=False), row=r, col=c)
    metric_name = items[0]["metric"]
    fig.update_yaxes(title_text=metric_name, col=1)
    return _layout(fig, f"Effect of each hyperparameter on {metric_name}", height=300 * rows)


def _axis_values(col: dict[str, Any], values: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Plot coordinates of a column: categories by index (with their labels as ticks)."""
    if col["kind"] == D.CATEGORICAL:
        cats = [str(c) for c in (col["categories"] or sorted({str(v) for v in values}))]
        coords = [cats.index(str(v)) if v is not None and str(v) in cats else None for v in values]
        return coords, dict(tickvals=list(range(len(cats))), ticktext=cats)
    return values, dict(type="log") if col["log"] else {}


def scatter3d(study: Any, axes: tuple[str, str, str] | None = None, metric: str | None = None) -> Any:
    """Three hyperparameters (default: the three most important) coloured by the objective."""
    go = _go()
    p = D.points(study, metric)
    cols = {c["name"]: c for c in p["columns"]}
    if len(cols) < 3:
        raise NoData(f"a 3-D view needs 3 hyperparameters; this study has {len(cols)}")
    axes = axes or default_axes(study, metric)
    rows = [r for r in p["rows"] if all(r[a] is not None for a in axes)]
    if not rows:
        raise NoData(f"no completed trial has all of {list(axes)} active")
    coords, scene = [], {}
    for key, a in zip(("x", "y", "z"), axes):
        values, extra = _axis_values(cols[a], [r[a] for r in rows])
        coords.append(values)
        scene[f"{key}axis"] = dict(title=dict(text=a), **extra)
    fig = go.Figure(go.Scatter3d(
        x=coords[0], y=coords[1], z=coords[2], mode="markers",
        marker=dict(size=5, color=[r["value"] for r in rows], colorscale="Viridis",
                    reversescale=p["direction"] == "min", colorbar=dict(title=p["metric"])),
        text=[f"trial {r['number']}: {r['value']:.4g}" for r in rows], hoverinfo="text"))
    return _layout(fig, f"{p['metric']} over {', '.join(axes)}", scene=scene, height=560)


def default_axes(study: Any, metric: str | None = None) -> tuple[str, ...]:
    """The three hyperparameters to show first: the most important, else the first three."""
    names = [c["name"] for c in D.points(study, metric)["columns"]]
    try:
        from ..analysis import importance

        imp = importance(study, metric=metric, interactions=False, n_trees=50)
        names = sorted(names, key=lambda n: -imp.main.get(n, 0.0))
    except Exception:  # noqa: BLE001 - too few trials, no scikit-learn: keep the order
        pass
    return tuple(names[:3])


def histogram(study: Any, name: str | None = None, metric: str | None = None, bins: int = 3) -> Any:
    """Histograms of the objective, one per value of ``name`` (a number is cut into
    ``bins`` quantile ranges)."""
    go = _go()
    p = D.points(study, metric)
    cols = {c["name"]: c for c in p["columns"]}
    if not cols or not p["rows"]:
        raise NoData("no completed trial has a value yet")
    name = name or next((c["name"] for c in p["columns"] if c["kind"] == D.CATEGORICAL),
                        p["columns"][0]["name"])
    groups = group_rows(p["rows"], cols[name], bins)
    fig = go.Figure([go.Histogram(x=[r["value"] for r in rows], name=label, opacity=0.6)
                     for label, rows in groups.items()])
    fig.update_layout(barmode="overlay", legend_title_text=name)
    return _layout(fig, f"{p['metric']} by {name}", xaxis_title=p["metric"], yaxis_title="trials")


def group_rows(rows: list[dict[str, Any]], col: dict[str, Any], bins: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the value of ``col`` (quantile ranges for numbers; "inactive")."""
    name = col["name"]
    out: dict[str, list[dict[str, Any]]] = {}
    values = sorted(r[name] for r in rows if r[name] is not None)
    if col["kind"] == D.NUMERIC and len(set(values)) > bins:
        edges = [values[min(len(values) - 1, int(len(values) * k / bins))] for k in range(bins)] + [values[-1]]
        for r in rows:
            v = r[name]
            if v is None:
                label = "inactive"
            else:
                k = max(i for i in range(bins) if v >= edges[i])
                label = f"{edges[k]:.3g}–{edges[k + 1]:.3g}"
            out.setdefault(label, []).append(r)
        return out
    for r in rows:
        out.setdefault("inactive" if r[name] is None else str(r[name]), []).append(r)
    return out


def parallel(study: Any, metric: str | None = None) -> Any:
    """Parallel coordinates: every hyperparameter and the objective."""
    go = _go()
    p = D.points(study, metric)
    if not p["rows"] or not p["columns"]:
        raise NoData("no completed trial has a value yet")
    dims = []
    for c in p["columns"]:
        raw = [r[c["name"]] for r in p["rows"]]
        values, extra = _axis_values(c, raw)
        if c["kind"] == D.NUMERIC and c["log"]:
            values = [math.log10(v) if v is not None and v > 0 else None for v in values]
            label = f"log10 {c['name']}"
        else:
            label = c["name"]
        fill = min((v for v in values if v is not None), default=0)
        dim = dict(label=label, values=[fill - 0 if v is None else v for v in values])
        if "tickvals" in extra:
            dim.update(tickvals=extra["tickvals"], ticktext=extra["ticktext"])
        dims.append(dim)
    ys = [r["value"] for r in p["rows"]]
    dims.append(dict(label=p["metric"], values=ys))
    fig = go.Figure(go.Parcoords(line=dict(color=ys, colorscale="Viridis",
                                           reversescale=p["direction"] == "min", showscale=True),
                                 dimensions=dims))
    return _layout(fig, f"Parallel coordinates ({p['metric']})", height=450)


def importance(study: Any, metric: str | None = None, top_pairs: int = 8) -> Any:
    """Main effects and the strongest pairwise interactions (fANOVA on a random forest)."""
    go = _go()
    from ..analysis import importance as compute

    try:
        imp = compute(study, metric=metric)
    except (ValueError, ImportError) as exc:
        raise NoData(str(exc)) from exc
    main = sorted(imp.main.items(), key=lambda kv: kv[1])
    pairs = sorted(imp.pairs.items(), key=lambda kv: kv[1])[-top_pairs:]
    labels = [k for k, _ in main] + [f"{a} × {b}" for (a, b), _ in pairs]
    values = [v for _, v in main] + [v for _, v in pairs]
    colours = ["#1f77b4"] * len(main) + ["#ff7f0e"] * len(pairs)
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color=colours))
    r2 = f"; surrogate R² {imp.r2:.2f}" if imp.r2 is not None else ""
    return _layout(fig, f"Importance for {imp.metric} ({imp.trials} trials{r2})",
                   xaxis_title="fraction of variance", height=max(300, 28 * len(labels) + 120))


def curves(study: Any, metric: str | None = None) -> Any:
    """Learning curves from the intermediate results; a pruned trial ends in a cross."""
    go = _go()
    c = D.curves(study, metric)
    if not c["curves"]:
        raise NoData("no trial reported intermediate results (trial.report)")
    fig = go.Figure()
    for cur in c["curves"]:
        pruned = cur["state"] == "pruned"
        fig.add_trace(go.Scatter(x=cur["step"], y=cur["value"], mode="lines",
                                 name=f"trial {cur['number']}", showlegend=False,
                                 line=dict(width=1, color="#d62728" if pruned else "#1f77b4"),
                                 opacity=0.5 if pruned else 0.8))
        if pruned:
            fig.add_trace(go.Scatter(x=[cur["step"][-1]], y=[cur["value"][-1]], mode="markers",
                                     marker=dict(symbol="x", size=8, color="#d62728"),
                                     name="pruned", showlegend=False))
    return _layout(fig, f"Learning curves ({c['metric']}; red: pruned)", xaxis_title="step",
                   yaxis_title=c["metric"])


def tradeoff(study: Any, x_metric: str | None = None, y_metric: str | None = None) -> Any:
    """Two metrics (default: the objective against each trial's time; a multi-objective
    study's two objectives) with the Pareto front."""
    go = _go()
    t = D.tradeoff(study, x_metric, y_metric)
    if not t["number"]:
        raise NoData(f"no completed trial has both {t['x_metric']} and {t['y_metric']}")
    front = sorted((x, y, n) for x, y, n, f in zip(t["x"], t["y"], t["number"], t["front"]) if f)
    fig = go.Figure([
        go.Scatter(x=t["x"], y=t["y"], mode="markers", name="trial", opacity=0.6,
                   text=[f"trial {n}" for n in t["number"]]),
        go.Scatter(x=[f[0] for f in front], y=[f[1] for f in front], mode="lines+markers",
                   name="Pareto front", line_shape="hv", text=[f"trial {f[2]}" for f in front]),
    ])
    x_label = "seconds per trial" if t["x_metric"] == "duration" else t["x_metric"]
    return _layout(fig, f"{t['y_metric']} against {x_label}", xaxis_title=x_label,
                   yaxis_title=t["y_metric"])


def failures(study: Any) -> Any:
    """Where trials failed (each hyperparameter's values, failed ones in red) and why."""
    from plotly.subplots import make_subplots

    go = _go()
    f = D.failures(study)
    if not f["reasons"]:
        raise NoData("no trial failed")
    cols = f["columns"]
    fig = make_subplots(rows=len(cols) + 1, cols=1, subplot_titles=[c["name"] for c in cols] + ["why"],
                        vertical_spacing=min(0.08, 0.5 / (len(cols) + 1)))
    for i, c in enumerate(cols, start=1):
        for failed, colour in ((False, "#1f77b4"), (True, "#d62728")):
            rows = [r for r in f["rows"] if r["failed"] == failed and r[c["name"]] is not None]
            values, extra = _axis_values(c, [r[c["name"]] for r in rows])
            fig.add_trace(go.Scatter(x=values, y=[1 if failed else 0] * len(values), mode="markers",
                                     marker=dict(color=colour, size=7, opacity=0.6),
                                     name="failed" if failed else "finished", showlegend=i == 1,
                                     text=[f"trial {r['number']}" for r in rows]), row=i, col=1)
            fig.update_xaxes(row=i, col=1, **extra)
        fig.update_yaxes(row=i, col=1, tickvals=[0, 1], ticktext=["ok", "failed"], range=[-0.5, 1.5])
    reasons = f["reasons"][:8]
    fig.add_trace(go.Bar(x=[r["count"] for r in reasons], orientation="h",
                         y=[r["error"][:80] for r in reasons], marker_color="#d62728",
                         showlegend=False), row=len(cols) + 1, col=1)
    return _layout(fig, "Where and why trials failed", height=140 * len(cols) + 260)


FIGURES = {"history": history, "effects": effects, "scatter3d": scatter3d, "histogram": histogram,
           "parallel": parallel, "importance": importance, "curves": curves,
           "tradeoff": tradeoff, "failures": failures}
