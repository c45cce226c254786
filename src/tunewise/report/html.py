"""The self-contained HTML report: summary, figures (plotly, its JavaScript embedded so the
file works offline), the 3-D view and histograms with trim controls, and a sortable table."""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
from typing import Any

from . import data as D
from . import figures as F

ORDER = ["history", "effects", "scatter3d", "histogram", "parallel", "importance", "curves",
         "tradeoff", "failures"]
TITLES = {"history": "Optimisation history", "effects": "Effect of each hyperparameter",
          "scatter3d": "Three hyperparameters at a time (trim to find the good region)",
          "histogram": "The objective per value, with the same trims",
          "parallel": "Parallel coordinates", "importance": "Which hyperparameters mattered",
          "curves": "Learning curves", "tradeoff": "The objective against time (or a second metric)",
          "failures": "Where and why trials failed"}


def _json(obj: Any) -> str:
    """JSON safe inside a <script> element (no "</script>", NaN as null)."""
    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(obj)).replace("</", "<\\/")


def render(study: Any, metric: str | None = None) -> str:
    """The report as one HTML string."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    name, direction = D.objective(study, metric if metric else None)
    parts, scripts = [], []
    for key in ORDER:
        body = ""
        if key in ("scatter3d", "histogram"):
            pts = D.points(study, metric)
            if key == "scatter3d" and len(pts["columns"]) < 3:
                body = f'<p class="tw-empty">A 3-D view needs 3 hyperparameters; this study has {len(pts["columns"])}.</p>'
            elif not pts["rows"]:
                body = '<p class="tw-empty">No completed trial has a value yet.</p>'
            else:
                body = f'<div id="plot-{key}" class="tw-plot"></div>'
        else:
            try:
                fig = F.FIGURES[key](study, metric) if key not in ("failures", "tradeoff") else (
                    F.failures(study) if key == "failures" else F.tradeoff(study, None, metric))
            except F.NoData as exc:
                body = f'<p class="tw-empty">{html.escape(str(exc))}.</p>'
            else:
                body = f'<div id="plot-{key}" class="tw-plot"></div>'
                scripts.append(f"Plotly.newPlot('plot-{key}', ...figure({pio.to_json(fig, validate=False)}));")
        controls = _controls(study, metric) if key == "scatter3d" and "tw-plot" in body else ""
        if key == "histogram" and "tw-plot" in body:
            controls = _hist_controls(study, metric)
        parts.append(f'<section><h2>{TITLES[key]}</h2>{controls}'
                     f'<div class="tw-figure" id="fig-{key}">{body}</div></section>')
    points = D.points(study, metric)
    default = list(F.default_axes(study, metric)) if len(points["columns"]) >= 3 else []
    return _PAGE.format(
        title=html.escape(f"tunewise report: {study.name}"),
        plotly=get_plotlyjs(), style=_STYLE, summary=_summary(study, name, direction),
        figures="\n".join(parts), table=_table(study),
        points=_json(points), axes=_json(default), scripts="\n".join(scripts), script=_SCRIPT,
        generated=_dt.datetime.now().isoformat(timespec="seconds"))


def write_report(study: Any, path: str | os.PathLike[str], metric: str | None = None) -> str:
    """Write the report to ``path`` (an .html file); return the path."""
    text = render(study, metric)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _summary(study: Any, name: str, direction: str) -> str:
    s = D.summary(study)
    states = ", ".join(f"{n} {k}" for k, n in sorted(s["by_state"].items()))
    mean = f"{s['mean_seconds']:.1f} s per trial" if s["mean_seconds"] is not None else "no timing"
    lines = [f"<p><b>{s['trials']}</b> trials ({html.escape(states) or 'none'}); "
             f"{s['total_seconds']:.0f} s in all, {mean}. Objective: "
             + ", ".join(f"{html.escape(o['name'])} ({o['direction']})" for o in s["objectives"])
             + ".</p>"]
    if s["best"]:
        label = "Best trial" if len(s["best"]) == 1 else f"Pareto front ({len(s['best'])} trials)"
        rows = "".join(
            f"<tr><td>{b['number']}</td><td>{html.escape(_fmt(b['score']))}</td><td>"
            + ", ".join(f"{html.escape(str(k))}={html.escape(_fmt(v))}" for k, v in b["hyperparameters"].items())
            + "</td><td>" + ", ".join(f"{html.escape(str(k))}={html.escape(_fmt(v))}" for k, v in b["metrics"].items())
            + f"</td><td>{_fmt(b['duration'])}</td></tr>" for b in s["best"][:10])
        lines.append(f"<h3>{label}</h3><table class='tw-best'><tr><th>trial</th><th>score</th>"
                     f"<th>hyperparameters</th><th>metrics</th><th>seconds</th></tr>{rows}</table>")
    else:
        lines.append("<p>No trial has completed yet.</p>")
    return "\n".join(lines)


def _table(study: Any) -> str:
    columns, rows = study._rows()
    head = "".join(f"<th data-col='{i}'>{html.escape(c)}</th>" for i, c in enumerate(columns))
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            sort = v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            attr = f" data-v='{sort}'" if sort is not None and math.isfinite(sort) else ""
            cells.append(f"<td{attr}>{html.escape(_fmt(v))[:300]}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table id='trials-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _controls(study: Any, metric: str | None) -> str:
    p = D.points(study, metric)
    names = [c["name"] for c in p["columns"]]
    selects = "".join(
        f"<label>{axis} <select id='axis-{axis}'>"
        + "".join(f"<option>{html.escape(n)}</option>" for n in names) + "</select></label> "
        for axis in ("x", "y", "z"))
    trims = []
    for c in p["columns"]:
        n = html.escape(c["name"])
        if c["kind"] == D.NUMERIC:
            trims.append(
                f"<div class='tw-trim'><span class='tw-hp'>{n}</span> from "
                f"<input type='range' class='tw-trim-min' data-hp='{n}' min='0' max='1000' value='0'> to "
                f"<input type='range' class='tw-trim-max' data-hp='{n}' min='0' max='1000' value='1000'> "
                f"<span class='tw-range' data-hp='{n}'></span></div>")
        else:
            seen = sorted({str(r[c['name']]) for r in p["rows"] if r[c["name"]] is not None},
                          key=lambda v: [str(x) for x in (c["categories"] or [])].index(v)
                          if v in [str(x) for x in (c["categories"] or [])] else 0)
            boxes = "".join(f"<label><input type='checkbox' class='tw-trim-cat' data-hp='{n}' "
                            f"value='{html.escape(v)}' checked> {html.escape(v)}</label> " for v in seen)
            trims.append(f"<div class='tw-trim'><span class='tw-hp'>{n}</span> {boxes}</div>")
    return (f"<div class='tw-controls'>{selects}<span id='trim-count'></span>"
            f"<details open><summary>Trim value ranges</summary>{''.join(trims)}</details></div>")


def _hist_controls(study: Any, metric: str | None) -> str:
    p = D.points(study, metric)
    first = next((c["name"] for c in p["columns"] if c["kind"] == D.CATEGORICAL), p["columns"][0]["name"])
    opts = "".join(f"<option{' selected' if c['name'] == first else ''}>{html.escape(c['name'])}</option>"
                   for c in p["columns"])
    return f"<div class='tw-controls'><label>per value of <select id='hist-by'>{opts}</select></label></div>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f4f4f4; cursor: pointer; position: sticky; top: 0; }
.tw-table { max-height: 500px; overflow: auto; }
.tw-empty { color: #888; font-style: italic; }
.tw-controls { font-size: 0.9em; margin: 0.4em 0; }
.tw-trim { margin: 2px 0; } .tw-hp { display: inline-block; min-width: 10em; font-weight: 600; }
.tw-range { color: #555; }
"""

_SCRIPT = r"""
function figure(f) { return [f.data, f.layout, {responsive: true, displaylogo: false}]; }
(function () {
  const P = POINTS, cols = {};
  P.columns.forEach(c => cols[c.name] = c);
  const trims = {};
  function lo(c) { const v = P.rows.map(r => r[c.name]).filter(v => v !== null); return Math.min(...v); }
  function hi(c) { const v = P.rows.map(r => r[c.name]).filter(v => v !== null); return Math.max(...v); }
  function at(c, u) {   // slider position 0..1000 -> value (log scale for log hyperparameters)
    const a = lo(c), b = hi(c), f = u / 1000;
    if (c.log && a > 0) return Math.exp(Math.log(a) + f * (Math.log(b) - Math.log(a)));
    return a + f * (b - a);
  }
  function keep(r) {
    for (const c of P.columns) {
      const v = r[c.name], t = trims[c.name];
      if (!t || v === null) continue;
      if (c.kind === 'numeric' && (v < t.min - 1e-12 || v > t.max + 1e-12)) return false;
      if (c.kind === 'categorical' && !t.cats.has(String(v))) return false;
    }
    return true;
  }
  function readTrims() {
    document.querySelectorAll('.tw-trim-min').forEach(el => {
      const c = cols[el.dataset.hp];
      const mx = document.querySelector(`.tw-trim-max[data-hp="${el.dataset.hp}"]`);
      let a = +el.value, b = +mx.value; if (a > b) [a, b] = [b, a];
      trims[c.name] = {min: at(c, a), max: at(c, b)};
      const span = document.querySelector(`.tw-range[data-hp="${el.dataset.hp}"]`);
      if (span) span.textContent = `${trims[c.name].min.toPrecision(3)} – ${trims[c.name].max.toPrecision(3)}`;
    });
    const cats = {};
    document.querySelectorAll('.tw-trim-cat').forEach(el => {
      cats[el.dataset.hp] = cats[el.dataset.hp] || new Set();
      if (el.checked) cats[el.dataset.hp].add(el.value);
    });
    for (const k in cats) trims[k] = {cats: cats[k]};
  }
  function coord(c, v) {
    if (v === null) return null;
    if (c.kind === 'categorical') {
      const cats = (c.categories || []).map(String); return cats.indexOf(String(v));
    }
    return v;
  }
  function axis(c) {
    const a = {title: {text: c.name}};
    if (c.kind === 'categorical') { a.tickvals = (c.categories || []).map((_, i) => i); a.ticktext = (c.categories || []).map(String); }
    else if (c.log) a.type = 'log';
    return a;
  }
  let shown = 0;
  function draw3d() {
    const el = document.getElementById('plot-scatter3d'); if (!el) return;
    const ax = ['x', 'y', 'z'].map(k => cols[document.getElementById('axis-' + k).value]);
    const rows = P.rows.filter(keep).filter(r => ax.every(c => r[c.name] !== null));
    shown = rows.length;
    const count = document.getElementById('trim-count');
    if (count) count.textContent = `${rows.length} of ${P.rows.length} trials`;
    const trace = {type: 'scatter3d', mode: 'markers',
      x: rows.map(r => coord(ax[0], r[ax[0].name])), y: rows.map(r => coord(ax[1], r[ax[1].name])),
      z: rows.map(r => coord(ax[2], r[ax[2].name])),
      text: rows.map(r => `trial ${r.number}: ${r.value.toPrecision(4)}`), hoverinfo: 'text',
      marker: {size: 5, color: rows.map(r => r.value), colorscale: 'Viridis',
               reversescale: P.direction === 'min', colorbar: {title: {text: P.metric}},
               cmin: Math.min(...P.rows.map(r => r.value)), cmax: Math.max(...P.rows.map(r => r.value))}};
    Plotly.react(el, [trace], {title: {text: `${P.metric} over ${ax.map(c => c.name).join(', ')}`},
      template: 'plotly_white', height: 560, margin: {l: 0, r: 0, t: 50, b: 0},
      scene: {xaxis: axis(ax[0]), yaxis: axis(ax[1]), zaxis: axis(ax[2])}}, {responsive: true, displaylogo: false});
  }
  function drawHist() {
    const el = document.getElementById('plot-histogram'); if (!el) return;
    const c = cols[document.getElementById('hist-by').value];
    const rows = P.rows.filter(keep), groups = {};
    let label = r => r[c.name] === null ? 'inactive' : String(r[c.name]);
    const vals = rows.map(r => r[c.name]).filter(v => v !== null).sort((a, b) => a - b);
    if (c.kind === 'numeric' && new Set(vals).size > 3) {
      const e = [0, 1, 2].map(k => vals[Math.min(vals.length - 1, Math.floor(vals.length * k / 3))]).concat([vals[vals.length - 1]]);
      label = r => { const v = r[c.name]; if (v === null) return 'inactive';
        let k = 0; for (let i = 0; i < 3; i++) if (v >= e[i]) k = i;
        return `${e[k].toPrecision(3)}–${e[k + 1].toPrecision(3)}`; };
    }
    rows.forEach(r => { const k = label(r); (groups[k] = groups[k] || []).push(r.value); });
    const traces = Object.keys(groups).map(k => ({type: 'histogram', x: groups[k], name: k, opacity: 0.6}));
    Plotly.react(el, traces, {barmode: 'overlay', template: 'plotly_white',
      title: {text: `${P.metric} by ${c.name} (${rows.length} trials after trims)`},
      xaxis: {title: {text: P.metric}}, yaxis: {title: {text: 'trials'}}, legend: {title: {text: c.name}}},
      {responsive: true, displaylogo: false});
  }
  function redraw() { readTrims(); draw3d(); drawHist(); }
  window.tunewiseReport = {shown: () => shown, redraw: redraw};
  document.addEventListener('DOMContentLoaded', () => {
    ['x', 'y', 'z'].forEach((k, i) => { const s = document.getElementById('axis-' + k);
      if (s && AXES[i]) s.value = AXES[i]; });
    document.querySelectorAll('.tw-trim-min, .tw-trim-max, .tw-trim-cat, #axis-x, #axis-y, #axis-z, #hist-by')
      .forEach(el => { el.addEventListener('input', redraw); el.addEventListener('change', redraw); });
    redraw();
    const table = document.getElementById('trials-table');
    table.querySelectorAll('th').forEach(th => th.addEventListener('click', () => {
      const i = +th.dataset.col, body = table.tBodies[0], asc = th.dataset.asc !== '1';
      table.querySelectorAll('th').forEach(h => delete h.dataset.asc); th.dataset.asc = asc ? '1' : '0';
      const key = td => td.dataset.v !== undefined ? +td.dataset.v : td.textContent;
      const rows = Array.from(body.rows).sort((a, b) => {
        const x = key(a.cells[i]), y = key(b.cells[i]);
        const c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c; });
      rows.forEach(r => body.appendChild(r));
    }));
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style>
<script>{plotly}</script></head>
<body>
<h1>{title}</h1>
<p class="tw-generated">Generated by tunewise on {generated}.</p>
<section id="summary"><h2>Summary</h2>{summary}</section>
{figures}
<section><h2>All trials (click a column to sort)</h2><div class="tw-table">{table}</div></section>
<script>const POINTS = {points}; const AXES = {axes};</script>
<script>{script}</script>
<script>document.addEventListener('DOMContentLoaded', () => {{ {scripts} }});</script>
</body></html>
"""
