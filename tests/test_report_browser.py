"""The HTML report in a real browser: it loads without JavaScript errors, every figure is
drawn, the trials table sorts, and the 3-D view's axis pickers and trims re-draw the plots.

Runs headless Chromium from Debian (``apt-get install chromium``) through Playwright's Python
API; skipped where either is missing (``.ci/run`` installs chromium when apt-get is there).
"""

from __future__ import annotations

import math
import os

import pytest

CHROMIUM = "/usr/bin/chromium"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("plotly", reason="the report needs plotly (pip install 'tunewise[report]')")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

import tunewise  # noqa: E402

FIGURES = ["history", "effects", "scatter3d", "histogram", "parallel", "importance", "curves",
           "tradeoff", "failures"]
N_TRIALS = 40
FAILED = {7, 20, 33}  # never two in a row: the study stops after 3 consecutive failures

# Chromium 120+ no longer falls back to software WebGL on its own; plotly's 3-D scatter needs
# WebGL, so ask for SwiftShader explicitly (headless, no GPU).
LAUNCH_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def _objective(trial):
    lr = trial.hp.Float("lr", 1e-4, 1e-1, sampling="log")
    units = trial.hp.Int("units", 16, 256)
    act = trial.hp.Choice("act", ["relu", "tanh"])
    dropout = trial.hp.Float("dropout", 0.0, 0.5)
    if trial.number in FAILED:
        raise tunewise.FailedTrialError("diverged (on purpose)")
    score = (0.95 - 0.04 * (math.log10(lr) + 2.5) ** 2 - 0.3 * (dropout - 0.2) ** 2
             + 0.0002 * units + (0.01 if act == "relu" else 0.0))
    for step in range(2):
        trial.report(step, {"val_accuracy": score * (0.8 + 0.2 * step)})
    return {"val_accuracy": score, "val_loss": 1.0 - score + 0.1 * dropout}


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    from tunewise.report import write_report

    study = tunewise.Study("r", objective="val_accuracy", sampler="random", seed=0)
    study.optimize(_objective, max_trials=N_TRIALS, show_progress=False)
    assert len(study.trials) == N_TRIALS
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(study, path)
    assert path.exists()
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(headless=True, executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


class _Page:
    """The loaded report and the JavaScript errors seen while it was open. Opening it takes
    seconds (plotly draws every figure, the 3-D one in software WebGL), so the tests share one
    load; a test that changes the controls puts them back, or marks the page for a reload."""

    def __init__(self, page, url):
        self.page = page
        self.url = url
        self.errors: list[str] = []
        self.mark = 0
        self.dirty = False
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.load()

    def load(self):
        self.page.goto(self.url)
        self.page.wait_for_load_state("load")
        # plotly draws asynchronously; wait for the 3-D scatter and the report's API.
        self.wait_until("() => window.tunewiseReport && document.querySelector("
                        "'#fig-scatter3d .js-plotly-plot')", timeout=30000)
        self.dirty = False

    def new_errors(self):
        """JavaScript errors since the current test started."""
        return self.errors[self.mark:]

    def eval(self, js, arg=None):
        return self.page.evaluate(js, arg)

    def wait_until(self, js, arg=None, timeout=5000):
        """Wait for ``js`` to be truthy; False (not an exception) when it never is, so the
        caller's assertion shows the values."""
        try:
            self.page.wait_for_function(js, arg=arg, timeout=timeout)
            return True
        except sync_api.TimeoutError:
            return False


@pytest.fixture(scope="module")
def loaded(browser, report_path):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield _Page(context.new_page(), report_path.as_uri())
    context.close()


@pytest.fixture
def page(loaded):
    if loaded.dirty:
        loaded.load()
    loaded.mark = len(loaded.errors)
    return loaded


SHOWN = "() => window.tunewiseReport.shown()"
COUNT = "() => document.getElementById('trim-count').textContent.trim()"
SET_RANGE = """(el, frac) => {
    const lo = parseFloat(el.min), hi = parseFloat(el.max);
    el.value = String(lo + frac * (hi - lo));
    el.dispatchEvent(new Event('input', {bubbles: true}));
    el.dispatchEvent(new Event('change', {bubbles: true}));
    return [lo, hi, el.value];
}"""
X_TITLE = """() => {
    const gd = document.querySelector('#fig-scatter3d .js-plotly-plot');
    for (const layout of [gd.layout, gd._fullLayout]) {
        const t = layout && layout.scene && layout.scene.xaxis && layout.scene.xaxis.title;
        const text = typeof t === 'string' ? t : (t && t.text);
        if (text) return text;
    }
    return null;
}"""


def test_loads_without_javascript_errors(page):
    page.page.wait_for_timeout(500)  # let late errors (deferred plotly work) arrive
    assert page.errors == []  # everything since the page was opened


def test_every_figure_is_drawn(page):
    for name in FIGURES:
        fig = page.page.query_selector(f"div.tw-figure#fig-{name}")
        assert fig is not None, f"no <div class='tw-figure' id='fig-{name}'>"
        empty = fig.query_selector("p.tw-empty")
        assert empty is None, f"fig-{name} is empty for this study: {empty.inner_text()!r}"
        assert fig.query_selector(".js-plotly-plot") is not None, f"fig-{name} has no plotly plot"
    assert page.new_errors() == []


def _column(page, index):
    return page.eval("""(i) => Array.from(document.querySelectorAll('#trials-table tbody tr'))
                              .map(tr => tr.children[i] ? tr.children[i].textContent.trim() : '')""",
                     index)


def _numbers(cells):
    out = []
    for c in cells:
        try:
            out.append(float(c.replace(",", "")))
        except ValueError:
            pass
    return out


def test_trials_table_has_every_trial_and_sorts(page):
    rows = page.page.query_selector_all("#trials-table tbody tr")
    assert len(rows) == N_TRIALS
    headers = [h.strip() for h in page.eval(
        "() => Array.from(document.querySelectorAll('#trials-table th')).map(th => th.textContent)")]
    index = next((i for i, h in enumerate(headers) if "units" in h.lower()), None)
    assert index is not None, f"no 'units' column in {headers}"
    before = _column(page, index)
    assert len(_numbers(before)) == N_TRIALS, before
    assert _numbers(before) not in (sorted(_numbers(before)), sorted(_numbers(before), reverse=True))
    page.page.click(f"#trials-table th:nth-child({index + 1})")
    page.wait_until("([i, before]) => { const now = Array.from(document.querySelectorAll("
                    "'#trials-table tbody tr')).map(tr => tr.children[i].textContent.trim());"
                    " return now.join('|') !== before.join('|'); }", [index, before])
    after = _numbers(_column(page, index))
    assert sorted(after) == sorted(_numbers(before))  # the same rows, reordered
    assert after in (sorted(after), sorted(after, reverse=True)), after
    assert after != _numbers(before)
    # a second click reverses (or at least keeps the column sorted)
    page.page.click(f"#trials-table th:nth-child({index + 1})")
    page.page.wait_for_timeout(200)
    again = _numbers(_column(page, index))
    assert again in (sorted(again), sorted(again, reverse=True)), again
    assert page.new_errors() == []


def test_numeric_trim_reduces_the_points(page):
    total = page.eval(SHOWN)
    count = page.eval(COUNT)
    assert total > 0
    assert f"of {N_TRIALS}" in count or str(total) in count, count
    page.dirty = True
    ok = page.page.eval_on_selector('input.tw-trim-min[data-hp="units"]', SET_RANGE, 0.9)
    page.wait_until(f"() => window.tunewiseReport.shown() < {total}")
    shown = page.eval(SHOWN)
    assert 0 <= shown < total, (ok, shown, total)
    page.wait_until(f"() => ({COUNT})() !== {count!r}")
    assert page.eval(COUNT) != count
    assert page.eval(COUNT).startswith(f"{shown} of"), page.eval(COUNT)
    assert page.new_errors() == []
    page.page.eval_on_selector('input.tw-trim-min[data-hp="units"]', SET_RANGE, 0.0)  # back
    page.wait_until(f"() => window.tunewiseReport.shown() === {total}")
    assert (page.eval(SHOWN), page.eval(COUNT)) == (total, count)
    page.dirty = False


def test_category_checkbox_reduces_the_points(page):
    total = page.eval(SHOWN)
    count = page.eval(COUNT)
    box = 'input.tw-trim-cat[data-hp="act"][value="relu"]'
    assert page.page.is_checked(box)
    page.dirty = True
    page.page.uncheck(box)
    page.wait_until(f"() => window.tunewiseReport.shown() < {total}")
    shown = page.eval(SHOWN)
    assert 0 < shown < total, (shown, total)
    page.wait_until(f"() => ({COUNT})() !== {count!r}")
    assert page.eval(COUNT) != count
    page.page.check(box)  # and back
    page.wait_until(f"() => window.tunewiseReport.shown() === {total}")
    assert page.eval(SHOWN) == total
    assert page.new_errors() == []
    page.dirty = False


def test_axis_picker_changes_the_x_axis(page):
    before = page.eval(X_TITLE)
    assert before, "the 3-D scatter's x axis has no title"
    current = {a: page.eval(f"() => document.getElementById('axis-{a}').value") for a in "xyz"}
    options = page.eval("() => Array.from(document.getElementById('axis-x').options).map(o => o.value)")
    assert set(options) >= {"lr", "units", "act", "dropout"}, options
    new = next((o for o in options if o not in current.values()),
               next(o for o in options if o != current["x"]))
    page.dirty = True
    page.page.select_option("#axis-x", new)
    page.wait_until(f"() => ({X_TITLE})() !== {before!r}")
    after = page.eval(X_TITLE)
    assert after != before, (current, new, before, after)
    assert new in after, (new, after)
    assert page.new_errors() == []
    page.page.select_option("#axis-x", current["x"])  # back
    page.wait_until(f"() => ({X_TITLE})() === {before!r}")
    assert page.eval(X_TITLE) == before
    page.dirty = False
