"""Results and Gradient-directions figures: widths that follow their box, compact legends, one source per number,
exports of a bounded size; in Chromium, every plot inside its box at 1400 and 390 px with no page overflow.

Screenshots of each tab at both widths (and in dark mode) go to $INSTRUCTEDIT_SCREENSHOTS (default: a temp folder).
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pandas as pd
import pytest
from app_support import (
    ROOT,
    free_port,
    load_app_module,
    sequence_results,
    sequence_share,
)

from analysis import layout, sources
from analysis.export import find_browser, html_text
from analysis.figures import is_data
from analysis.sequence_figure import sequence_curves
from instructedit.evaluation import schema
from workbench.ui.directions import DirectionsTab
from workbench.ui.results import ResultsTab, combined, figures_for, load_results

ASSETS = ROOT / "assets"
MAX_LEGEND = 12
EDITORS8 = {f"editor-{i}": 1.0 + i for i in range(8)}
TASKS = ("Recent", "CounterFact", "zsRE", "ConvSent")


def _cell(mean):
    return {"mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "n": 10}


def _entry(value, instruction="seen", tasks=("counterfact", "recent", "zsre")):
    summary = {t: {"n": 10, **{m: _cell(value) for m in ("reliability", "generalization", "locality")}} for t in tasks}
    if "convsent" in tasks:
        summary["convsent"] |= {"sentiment_success": _cell(value), "fluency": {"mean": 400.0, "ci_low": 390.0,
                                                                               "ci_high": 410.0, "n": 10}}
    return {"instruction": instruction, "summary": summary, "records": []}


def _with_generation(entry: dict, value: float) -> dict:
    """The entry with every generation metric (and its per-group localities) in each token task."""
    names = schema.GENERATION_METRICS + tuple(m for m in schema.GROUPED if m.startswith("gen_"))
    for task, metrics in entry["summary"].items():
        if task != "convsent":
            metrics |= {m: _cell(1.02 if m in schema.UNSCALED else value) for m in names}
    return entry


def _write(folder: Path, name: str, data: dict, mtime: float | None = None) -> None:
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def _bounded(fig) -> None:
    assert fig.layout.width is None and fig.layout.autosize, "a figure must follow its box, not fix a width"
    assert fig.layout.paper_bgcolor == layout.TRANSPARENT and fig.layout.plot_bgcolor == layout.TRANSPARENT
    columns = {round((fig.layout[name].domain or [0])[0], 3) for name in fig.layout.to_plotly_json() if name.startswith("xaxis")}
    assert len(columns) <= layout.MAX_COLUMNS, "panels must wrap into rows"


def _legend_entries(fig) -> int:
    return sum(1 for t in fig.data if t.type != "table" and t.showlegend is not False)


def _files() -> dict[str, dict]:
    """table3.json and figure3.json with token metrics only, as earlier rounds wrote them."""
    tasks = ("counterfact", "recent", "zsre", "convsent")
    return {"table3.json": {"instructedit": _entry(0.8, tasks=tasks), "mend-multitask": _entry(0.5, "none", tasks=tasks)},
            "figure3.json": {"instructedit (seen)": _entry(0.8), "instructedit (unseen)": _entry(0.7, "unseen")}}


@pytest.fixture()
def results_dir(tmp_path):
    files = _files()
    _write(tmp_path, "table3.json", files["table3.json"], mtime=1_000)
    # newer, and holding an instructedit (seen) too: it must not feed Table 3
    _write(tmp_path, "figure2c.json", {"instructedit": _entry(0.3), "instructedit-recent": _entry(0.2)}, mtime=2_000)
    _write(tmp_path, "figure3.json", files["figure3.json"])
    return tmp_path


@pytest.fixture()
def generation_dir(tmp_path):
    """table3.json and figure3.json as this round writes them: generation metrics beside the token ones."""
    for name, data in _files().items():
        _write(tmp_path, name, {key: _with_generation(entry, 0.6) for key, entry in data.items()})
    return tmp_path


def _table_cells(fig) -> dict[str, list[str]]:
    header, *columns = (list(c) for c in [fig.data[0].header.values, *fig.data[0].cells.values])
    return {"labels": columns[0], **{h: c for h, c in zip(header[1:], columns[1:], strict=True)}}


def test_table3_shows_generation_rows_beside_the_token_ones(generation_dir):
    t3, _ = figures_for(load_results(generation_dir))
    cells = _table_cells(t3)
    labels, ours = cells["labels"], cells["<b>InstructEdit: paper · ours</b>"]
    gen = schema.metric_label("gen_reliability")
    assert gen == "Reliability (generation)"
    for task in ("CounterFact", "Recent", "zsRE"):
        token_row = labels.index(f"{task} {schema.metric_label('reliability')}")
        assert labels[token_row + 1] == f"{task} {gen}"   # right after its token metric
        assert ours[token_row + 1] == "– · <b>60.0</b> [55.0, 65.0]"   # the paper has none
        assert {f"{task} {schema.metric_label(m)}" for m in schema.GENERATION_METRICS} <= set(labels)
    ratio = ours[labels.index(f"CounterFact {schema.metric_label('fluency_ratio')}")]
    assert ratio == "– · <b>1.02</b> [0.97, 1.07]"     # unscaled (schema.UNSCALED), two decimals
    assert not any(label.startswith("ConvSent") and "(generation)" in label for label in labels)
    assert not any(schema.metric_label(m) in label for m in schema.GROUPED for label in labels)
    assert "(generation): ours only" in t3.layout.title.text


def test_figure3_draws_a_generation_bar_per_metric_without_a_paper_bar(generation_dir):
    _, f3 = figures_for(load_results(generation_dir))
    expected = [schema.metric_label(m) for m in ("reliability", "gen_reliability", "generalization",
                                                  "gen_generalization", "locality", "gen_locality",
                                                  "gen_portability")]
    ours = [t for t in f3.data if not t.meta["paper"]]
    assert len(ours) == 6 and all(set(t.y) == set(expected) for t in ours)   # 3 tasks x (seen, unseen)
    assert list(f3.layout.yaxis.categoryarray) == expected   # each generation bar right after its token one
    assert "Reliability<br>(generation)" in f3.layout.yaxis.ticktext   # wrapped to fit a phone
    assert not any(label in sources.GENERATION_LABELS for t in f3.data if t.meta["paper"] for label in t.y)
    assert not set(f3.layout.yaxis.categoryarray) & {schema.metric_label(m) for m in schema.UNSCALED}
    seen = next(t for t in ours if t.name == "Seen" and "Reliability (generation)" in t.y)
    assert dict(zip(seen.y, seen.x))["Reliability (generation)"] == pytest.approx(60.0)
    assert _legend_entries(f3) <= 4 and "(generation): ours only" in f3.layout.title.text


def test_results_without_generation_metrics_have_no_generation_rows(results_dir):
    t3, f3 = figures_for(load_results(results_dir))
    assert not set(_table_cells(t3)["labels"]) & {f"{t} {g}" for t in TASKS for g in sources.GENERATION_LABELS}
    assert not set(f3.layout.yaxis.categoryarray) & sources.GENERATION_LABELS
    assert "(generation)" not in t3.layout.title.text + f3.layout.title.text


def test_sources_declare_one_file_per_experiment():
    files = [s.file for s in sources.SOURCES.values()]
    assert len(files) == len(set(files))
    assert sources.SOURCES["table3"].file == "table3.json" and sources.SOURCES["figure3"].file == "figure3.json"


def test_no_figure_cell_is_fed_by_two_files(results_dir):
    results = load_results(results_dir)
    for selection in results.selections.values():
        assert set(selection.rows["source"]) == {selection.source.file}
        sources.check_one_source(selection.rows)
    t3, _ = figures_for(results)
    header, *columns = (list(c) for c in [t3.data[0].header.values, *t3.data[0].cells.values])
    instructedit = columns[header.index("<b>InstructEdit: paper · ours</b>")]
    shares = [cell for label, cell in zip(columns[0], instructedit) if "<b>" in cell and "Fluency" not in label]
    assert shares and all("<b>80.0</b>" in cell for cell in shares)  # table3.json's, not the newer figure2c's 30
    table = combined(results)
    fed = table[table["figure"] == "Table 3"]
    assert set(fed["source"]) == {"paper: Table 3", "table3.json"}
    twice = pd.concat([results.selections["table3"].rows, results.selections["table3"].rows.assign(source="x.json")])
    with pytest.raises(ValueError, match="more than once"):
        sources.check_one_source(twice)


def test_convsent_rows_show_our_metrics(results_dir):
    t3, _ = figures_for(load_results(results_dir))
    labels, _mend, instructedit = (list(c) for c in t3.data[0].cells.values)
    convsent = {label: cell for label, cell in zip(labels, instructedit) if label.startswith("ConvSent")}
    assert {"ConvSent Reliability", "ConvSent Locality", "ConvSent Fluency", "ConvSent Sentiment success"} <= set(convsent)
    assert "<b>80.0</b>" in convsent["ConvSent Reliability"] and "<b>400.0</b>" in convsent["ConvSent Fluency"]


def test_figure3_shows_ours_from_figure3_json(results_dir):
    _, f3 = figures_for(load_results(results_dir))
    ours = [t for t in f3.data if not t.meta["paper"]]
    assert {t.name for t in ours} == {"Seen", "Unseen"} and all(len(t.x) for t in ours)
    assert "not yet computed" not in f3.layout.title.text and "figure3.json" in f3.layout.title.text


def test_missing_experiments_are_noted(tmp_path):
    _write(tmp_path, "figure2c.json", {"instructedit": _entry(0.3)})
    status, t3, f3, *_ = ResultsTab(tmp_path).load()
    assert "no table3.json" in status and "no figure3.json" in status
    assert "ours not yet computed" in f3.layout.title.text and "ours not yet computed" in t3.layout.title.text
    assert all("ours" not in h for h in t3.data[0].header.values)


@pytest.mark.parametrize("folder", ["results_dir", "generation_dir"])
def test_results_figures_are_bounded(request, folder):
    for fig in figures_for(load_results(request.getfixturevalue(folder))):
        _bounded(fig)
        assert _legend_entries(fig) <= 4 and fig.layout.height <= 2000


@pytest.mark.skipif(not (ASSETS / "results" / "figure3.json").is_file(), reason="no committed figure3.json")
def test_committed_results_show_ours():
    t3, f3 = figures_for(load_results(ASSETS / "results"))
    assert "not yet computed" not in f3.layout.title.text
    assert any("ours" in h for h in t3.data[0].header.values)


def test_sequence_curves_draw_each_run_against_T():
    fig = sequence_curves(sequence_results())
    lines = [t for t in fig.data if is_data(t)]
    assert len(lines) == 2 * 2 * 4                      # (editor, task) x the four metrics
    for trace in lines:
        e, t = ("instructedit", "mend-multitask").index(trace.meta["editor"]), ("zsre", "recent").index(trace.meta["task"])
        null = (trace.meta["editor"], trace.meta["task"], trace.meta["metric"]) == ("mend-multitask", "recent",
                                                                                    "gen_reliability")
        assert list(trace.x) == ([1, 100] if null else [1, 10, 100])    # the null point is left out, not zero
        assert list(trace.y) == pytest.approx([100 * sequence_share(e, t, T, trace.meta["metric"]) for T in trace.x])
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["Reliability", "Reliability (generation)", "Locality", "Locality (generation)"]
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 10, 100]
    assert list(fig.layout.yaxis.range) == [-4, 105]


def test_sequence_curves_have_one_compact_legend():
    fig = sequence_curves(sequence_results())
    keys = [t for t in fig.data if t.showlegend]
    assert [t.name for t in keys] == ["InstructEdit", "MEND (multi-task)", "zsRE", "Recent"]   # one per editor, task
    assert _legend_entries(fig) == 4 and not any(t.showlegend for t in fig.data if is_data(t))
    lines = [t for t in fig.data if is_data(t)]
    colours = {t.meta["editor"]: {u.line.color for u in lines if u.meta["editor"] == t.meta["editor"]} for t in lines}
    assert all(len(c) == 1 for c in colours.values()) and len(set.union(*colours.values())) == 2   # colour: editor
    dashes = {t.meta["task"]: {u.line.dash for u in lines if u.meta["task"] == t.meta["task"]} for t in lines}
    assert dashes == {"zsre": {"solid"}, "recent": {"dash"}}                                       # dash: task
    by_editor = {k.name: k.legendgroup for k in keys[:2]}
    assert {t.legendgroup for t in lines if t.meta["editor"] == "instructedit"} == {by_editor["InstructEdit"]}
    assert "MEND (multi-task), Recent" in {t.name for t in lines}                                   # hover names


def test_sequence_curves_are_bounded():
    fig = sequence_curves(sequence_results(editors=("instructedit", "mend-multitask", "ft-l", "instructedit+lifelong")))
    _bounded(fig)
    assert _legend_entries(fig) == 6 <= MAX_LEGEND and fig.layout.height <= 2000
    assert "InstructEdit + lifelong" in {t.name for t in fig.data}


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"instructedit": {"summary": {}}})])
def test_missing_sequence_results_give_a_note(tmp_path, content):
    if content is not None:
        (tmp_path / sources.SEQUENCE_FILE).write_text(content, encoding="utf-8")
    data, notes = sources.sequence_results(tmp_path)
    assert data == {} and len(notes) == 1 and sources.SEQUENCE_FILE in notes[0]
    status, *_, fig = ResultsTab(tmp_path).load()
    assert not [t for t in fig.data if is_data(t)] and notes[0].split(": ", 1)[1] in fig.layout.title.text
    assert notes[0] in status
    _bounded(fig)


def test_sequence_results_are_read_from_their_declared_file(tmp_path):
    _write(tmp_path, "sequence-validation.json", sequence_results(editors=("ft-l",)))   # not the declared file
    _write(tmp_path, sources.SEQUENCE_FILE, sequence_results())
    assert sources.SEQUENCE_FILE not in {s.file for s in sources.SOURCES.values()}
    status, *_, fig = ResultsTab(tmp_path).load()
    assert {t.meta["editor"] for t in fig.data if is_data(t)} == {"instructedit", "mend-multitask"}
    assert f"Sequential editing from `{sources.SEQUENCE_FILE}`" in status


@pytest.fixture(scope="module")
def eight_editors(tmp_path_factory):
    from analysis.synthetic import synthetic_directionset

    folder = tmp_path_factory.mktemp("directions")
    synthetic_directionset(EDITORS8, tasks=TASKS, per_group=6, dim=16).save(folder / "eight.safetensors")
    return DirectionsTab(folder)


@pytest.mark.parametrize("layout_name,max_entries", [("separate", len(TASKS)), ("together", len(TASKS) + 8)])
def test_direction_figures_wrap_and_keep_the_legend_short(eight_editors, layout_name, max_entries):
    fig, _, html_path = eight_editors.draw("eight", list(EDITORS8), list(TASKS), "pca", layout_name, "u_tilde")
    _bounded(fig)
    assert sum(is_data(t) for t in fig.data) == 32
    assert _legend_entries(fig) == max_entries <= MAX_LEGEND
    assert fig.layout.height <= 2000
    assert '"responsive": true' in Path(html_path).read_text()[-50_000:]


def test_html_export_is_responsive(eight_editors):
    fig, _, _ = eight_editors.draw("eight", list(EDITORS8), list(TASKS), "pca", "separate", "u_tilde")
    text = html_text(fig, include_plotlyjs=False)
    assert '"responsive": true' in text and '"paper_bgcolor":"white"' in text


@pytest.mark.skipif(find_browser() is None, reason="no Chromium for kaleido")
def test_png_export_is_1200_px_wide(eight_editors):
    path = Path(eight_editors.png("eight", list(EDITORS8), list(TASKS), "pca", "separate", "u_tilde"))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == layout.EXPORT_WIDTH and height <= 2000


# ---- in the browser ------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"wide": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
GEOMETRY = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.offsetParent).map(p => {
  const svg = p.querySelector('.main-svg').getBoundingClientRect();
  const box = p.closest('.block').getBoundingClientRect();
  const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.right, b.top, b.bottom]; };
  const texts = [...p.querySelectorAll('.main-svg text')].filter(t => !t.closest('.hoverlayer') && !t.closest('.table')
    && t.textContent.trim()).map(t => [t.textContent.slice(0, 40), ...r(t)]);
  const cells = [...p.querySelectorAll('.table text.cell-text')].filter(t => t.textContent.trim()).map(t =>
    [t.textContent.slice(0, 40), r(t)[1], r(t.closest('.column-cell').querySelector('rect'))[1]]);
  return {id: p.closest('.block').id, svg: [svg.left, svg.right, svg.top, svg.bottom], box: [box.left, box.right],
          texts, cells, bg: p.querySelector('.main-svg').style.background,
          title: getComputedStyle(p.querySelector('.gtitle') || p).fill};
})"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("INSTRUCTEDIT_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _serve(env: dict):
    """(url, demo) of the app launched on `env`."""
    from workbench.ui.state import Settings

    module = load_app_module()
    demo = module.build_demo(Settings.from_env(env))
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                **module.launch_options())
    return f"http://127.0.0.1:{port}/", demo


@pytest.fixture(scope="module")
def figures_app(app_env):
    """The app on the committed results and direction sets (the tiny editors of app_env for the Edit tab)."""
    env = dict(app_env)
    for key, folder in (("INSTRUCTEDIT_RESULTS_DIR", "results"), ("INSTRUCTEDIT_DIRECTIONS_DIR", "directions")):
        if (ASSETS / folder).is_dir():
            env[key] = str(ASSETS / folder)
    url, demo = _serve(env)
    try:
        yield url
    finally:
        demo.close()


def _generation_results(folder: Path) -> None:
    """The committed table3.json / figure3.json (their summaries), or made-up ones, with generation metrics;
    a made-up sequence.json of every editor the sequence experiment runs (and a lifelong variant)."""
    _write(folder, sources.SEQUENCE_FILE, sequence_results(editors=("instructedit", "mend-multitask", "ft-l",
                                                                     "instructedit+lifelong"),
                                                            checkpoints=(1, 10, 100, 500)))
    for name, fallback in _files().items():
        committed = ASSETS / "results" / name
        data = json.loads(committed.read_text(encoding="utf-8")) if committed.is_file() else fallback
        _write(folder, name, {key: _with_generation({"instruction": entry.get("instruction", "seen"),
                                                     "summary": entry["summary"], "records": []}, 0.55)
                              for key, entry in data.items()})


@pytest.fixture(scope="module")
def generation_app(app_env, tmp_path_factory):
    """The app on results files holding generation metrics beside the token ones (this round's files)."""
    folder = tmp_path_factory.mktemp("generation_results")
    _generation_results(folder)
    url, demo = _serve(dict(app_env, INSTRUCTEDIT_RESULTS_DIR=str(folder)))
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    if tab.count():
        tab.click()
    else:  # a narrow viewport folds the last tabs into a menu
        page.locator('button[aria-label="More tabs"]').click()
        page.locator(".overflow-dropdown button", has_text=name).click()


def _show(page, url: str, tab: str) -> None:
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Edit").wait_for(timeout=30_000)
    _open_tab(page, tab)
    if tab == "Results":
        page.locator("#results-figure3 .js-plotly-plot").wait_for(timeout=30_000)
        page.locator("#results-table3 .js-plotly-plot").wait_for(timeout=30_000)
        page.locator("#results-sequence .js-plotly-plot").wait_for(timeout=30_000)
    else:
        page.get_by_role("button", name="Draw").click()
        page.locator("#directions-plot .js-plotly-plot .scatterlayer .trace").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1200)  # plotly's resize after the tab became visible


def _check_geometry(page) -> list[dict]:
    plots = page.evaluate(GEOMETRY)
    assert plots, "no plot on the page"
    for plot in plots:
        left, right, top, bottom = plot["svg"]
        assert plot["box"][0] - 1 <= left and right <= plot["box"][1] + 1, f"{plot['id']}: wider than its box"
        for text, t_left, t_right, t_top, t_bottom in plot["texts"]:
            assert left - 1 <= t_left and t_right <= right + 1, f"{plot['id']}: {text!r} cut at a side"
            assert top - 1 <= t_top and t_bottom <= bottom + 1, f"{plot['id']}: {text!r} cut at the top or bottom"
        for text, t_right, cell_right in plot["cells"]:
            assert t_right <= cell_right + 1, f"{plot['id']}: table cell {text!r} overflows its column"
    assert page.evaluate(OVERFLOW) <= 0, "the page scrolls sideways"
    return plots


@pytest.mark.browser
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("tab", ["Results", "Gradient directions"])
def test_plots_fit_their_boxes(chromium, figures_app, tmp_path_factory, tab, viewport):
    context = chromium.new_context(viewport=VIEWPORTS[viewport])
    try:
        page = context.new_page()
        _show(page, figures_app, tab)
        plots = _check_geometry(page)
        assert len(plots) == (3 if tab == "Results" else 1)   # Table 3, Figure 3, the sequence curves
        name = "results" if tab == "Results" else "directions"
        page.screenshot(path=str(_shots(tmp_path_factory) / f"{name}-{VIEWPORTS[viewport]['width']}.png"),
                        full_page=True)
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_generation_rows_fit_their_boxes(chromium, generation_app, tmp_path_factory, viewport):
    context = chromium.new_context(viewport=VIEWPORTS[viewport])
    try:
        page = context.new_page()
        _show(page, generation_app, "Results")
        assert len(_check_geometry(page)) == 3
        curves, keys = 4 * 2 * 4, 4 + 2         # (editor, task) x metric; a legend key per editor and per task
        assert page.locator("#results-sequence .scatterlayer .trace").count() == curves + keys
        assert page.locator("#results-table3 .table text", has_text="(generation)").count()
        assert page.locator("#results-figure3 .ytick text", has_text="(generation)").count()
        page.screenshot(path=str(_shots(tmp_path_factory) / f"results-generation-{VIEWPORTS[viewport]['width']}.png"),
                        full_page=True)
    finally:
        context.close()


def _luminance(css: str) -> float:
    r, g, b = (int(v) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.mark.browser
@pytest.mark.parametrize("tab", ["Results", "Gradient directions"])
def test_dark_mode_plots_are_transparent_with_light_text(chromium, figures_app, tmp_path_factory, tab):
    context = chromium.new_context(viewport=VIEWPORTS["wide"], color_scheme="dark")
    try:
        page = context.new_page()
        _show(page, figures_app + "?__theme=dark", tab)
        for plot in _check_geometry(page):
            assert plot["bg"].replace(" ", "") in ("rgba(0,0,0,0)", "transparent"), plot["id"]
            assert _luminance(plot["title"]) > 0.6, f"{plot['id']}: title {plot['title']} is dark on a dark page"
        name = "results" if tab == "Results" else "directions"
        page.screenshot(path=str(_shots(tmp_path_factory) / f"{name}-1400-dark.png"), full_page=True)
    finally:
        context.close()
