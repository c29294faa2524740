"""Side-by-side HTML report of two eval results: aggregates with intervals, plots, every prompt's answers.

    posttrain compare MODEL_A MODEL_B --suite math safety --out report.html   (evaluates both, then renders)
    posttrain compare a.json b.json --out report.html                         (renders saved results)

The page is one self-contained file (inline CSS and JS, plots as base64 PNG) that opens offline. Prompts,
answers, reasons and model names are untrusted text: every piece of result data goes through
``html.escape``, and the page's one script holds no data (it filters rows by their ``data-*`` attributes).
"B worse than A" on a prompt means B's score is worse in the direction of the item's metric
(``higher_is_better``); metrics without a direction (style statistics) are never better or worse.

A metric that is a mean over items (the mean score of the items carrying it, or a suite's share of
items scoring 1.0 such as ``code.pass@1``) also gets a paired 95% bootstrap interval of its change
B - A over the items both results hold (:func:`delta_cis`): the same items are resampled on both
sides, so it is narrower than the two sides' own intervals suggest when an item is hard for both.
"""

from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from pathlib import Path
from statistics import fmean

from posttrain.errors import UserError
from posttrain.eval.gate import align_columns, fmt, load_result
from posttrain.eval.run import LEVEL, RESAMPLES, metric_seed
from posttrain.eval.stats import paired_bootstrap_ci
from posttrain.eval.suite import SUITES, suite_names
from posttrain.util import write_text_atomic

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 16px 48px; color: #1d1d1f; }
h1 { font-size: 22px; margin: 20px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #ddd; padding: 5px 8px; }
th { text-align: left; background: #f4f4f6; } #items th { position: sticky; top: 0; z-index: 1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.models { color: #444; } .models b { color: #1d1d1f; } .note { color: #666; font-size: 13px; }
tr.better td.delta, .score.better { color: #1e7b34; background: #e6f4ea; }
tr.worse td.delta, .score.worse { color: #b3261e; background: #fce8e6; }
.plots img { max-width: 100%; display: block; margin: 8px 0; border: 1px solid #eee; }
.filters { display: flex; gap: 20px; align-items: center; padding: 8px 0; flex-wrap: wrap; }
#items td { vertical-align: top; } #items tr.worse { box-shadow: inset 4px 0 #d93025; }
#items tr.better { box-shadow: inset 4px 0 #34a853; } #items td.id { font-size: 12px; color: #555; width: 9em; }
pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0; max-height: 18em; overflow: auto;
      font: 12.5px/1.4 ui-monospace, monospace; background: #fafafa; padding: 4px 6px; }
.score { font-size: 12px; padding: 1px 4px; display: inline-block; } .reason { color: #666; font-size: 12px; }
.role { font-size: 11px; text-transform: uppercase; color: #888; } details summary { cursor: pointer; color: #555; }
"""

# Filters rows of the prompt table; reads only data-* attributes the page itself wrote.
_JS = """
function applyFilters() {
  const suite = document.getElementById('suite-filter').value;
  const worseOnly = document.getElementById('worse-filter').checked;
  const rows = document.querySelectorAll('#items tbody tr');
  let shown = 0;
  rows.forEach(function (row) {
    const visible = (!suite || row.dataset.suite === suite) && (!worseOnly || row.dataset.change === 'worse');
    row.hidden = !visible;
    if (visible) shown++;
  });
  document.getElementById('shown-count').textContent = shown + ' of ' + rows.length + ' prompts shown';
}
document.getElementById('suite-filter').addEventListener('change', applyFilters);
document.getElementById('worse-filter').addEventListener('change', applyFilters);
applyFilters();
"""


def change(value_a: float | None, value_b: float | None, higher_is_better: bool | None) -> str:
    """'better', 'worse' or 'same' for B against A; '' when a value is missing or the metric has no direction."""
    if value_a is None or value_b is None or higher_is_better is None:
        return ""
    if abs(value_b - value_a) < 1e-12:
        return "same"
    return "better" if (value_b > value_a) == higher_is_better else "worse"


def _directions(result_a: dict, result_b: dict) -> dict[str, bool | None]:
    """higher_is_better per metric name, from either result (B's wins if they disagree)."""
    return {name: entry.get("higher_is_better") for result in (result_a, result_b) for name, entry in result["metrics"].items()}


def paired_item_scores(result_a: dict, result_b: dict, metric: str) -> tuple[list[float], list[float]] | None:
    """Per-item values of ``metric`` on the items both results hold (paired as by :func:`pair_items`),
    A's and B's in the same order; None if the metric is not a mean of per-item values on both sides.

    An item's value is its score when the item carries the metric, else ``score == 1.0`` over every item
    of the suite for one of the suite's ``full_score_metrics`` (code's pass@1). On each side the mean of
    those values must equal the metric's value, which keeps out statistics such as a median length.
    """
    suite_name, _, short_name = metric.partition(".")
    suite_names()  # registers the built-in suites
    items_a, items_b = result_a.get("items", []), result_b.get("items", [])
    if any(item.get("metric") == metric for item in [*items_a, *items_b]):
        def value(item: dict) -> float | None:
            return item.get("score") if item.get("metric") == metric else None
    elif suite_name in SUITES and short_name in SUITES[suite_name].full_score_metrics:
        def value(item: dict) -> float | None:
            return float(item.get("score") == 1.0) if item.get("suite") == suite_name else None
    else:
        return None
    for result, items in ((result_a, items_a), (result_b, items_b)):
        values = [v for item in items if (v := value(item)) is not None]
        reported = (result["metrics"].get(metric) or {}).get("value")
        is_mean = values and isinstance(reported, int | float) and math.isclose(fmean(values), reported, abs_tol=1e-12)
        if not is_mean:
            return None
    pairs = [(value(a), value(b)) for a, b in pair_items(items_a, items_b) if a is not None and b is not None]
    pairs = [(score_a, score_b) for score_a, score_b in pairs if score_a is not None and score_b is not None]
    return [score_a for score_a, _ in pairs], [score_b for _, score_b in pairs]


def delta_cis(result_a: dict, result_b: dict) -> dict[str, tuple[float, float] | None]:
    """The paired 95% bootstrap interval of B - A for every metric of either result (None where the metric
    is not a mean over items or fewer than 2 items are paired); seeded per metric like the eval's own."""
    intervals: dict[str, tuple[float, float] | None] = {}
    for name in _directions(result_a, result_b):
        paired = paired_item_scores(result_a, result_b, name)
        if paired is None or len(paired[0]) < 2:
            intervals[name] = None
        else:
            intervals[name] = paired_bootstrap_ci(*paired, resamples=RESAMPLES, level=LEVEL, seed=metric_seed(0, name))
    return intervals


def before_after_table(before: dict, after: dict) -> str:
    """Metric, before, after, change (with the direction that counts as better) and the paired 95% interval
    of after - before (:func:`posttrain.eval.report.delta_cis`; an em dash where there is none) as aligned text."""
    directions, intervals = _directions(before, after), delta_cis(before, after)
    rows = [("metric", "before", "after", "change", "delta 95% CI (paired)")]
    for metric in sorted(set(before["metrics"]) | set(after["metrics"])):
        old = before["metrics"].get(metric, {}).get("value")
        new = after["metrics"].get(metric, {}).get("value")
        interval = intervals[metric]
        paired = "—" if interval is None else f"[{_signed_three_places(interval[0])}, {_signed_three_places(interval[1])}]"
        rows.append((metric, _three_places(old), _three_places(new), change(old, new, directions.get(metric)), paired))
    return align_columns(rows)


def _three_places(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed_three_places(value: float) -> str:
    text = f"{value:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def _signed(number: float) -> str:
    return ("+" if number > 0 else "") + fmt(number)


def _value_with_ci(entry: dict | None) -> str:
    if not entry:
        return "&mdash;"
    ci = entry.get("ci")
    interval = f' <span class="note">[{fmt(ci[0])}, {fmt(ci[1])}]</span>' if ci and len(ci) == 2 else ""
    return f"{fmt(entry.get('value'))}{interval}"


def _metric_table(result_a: dict, result_b: dict) -> str:
    metrics_a, metrics_b = result_a["metrics"], result_b["metrics"]
    directions, intervals, rows = _directions(result_a, result_b), delta_cis(result_a, result_b), []
    for name in directions:
        entry_a, entry_b = metrics_a.get(name), metrics_b.get(name)
        value_a, value_b = (entry.get("value") if entry else None for entry in (entry_a, entry_b))
        direction = directions[name]
        delta = "&mdash;" if value_a is None or value_b is None else _signed(value_b - value_a)
        interval = intervals[name]
        paired = "&mdash;" if interval is None else f"[{_signed(interval[0])}, {_signed(interval[1])}]"
        note = {True: "higher is better", False: "lower is better", None: ""}[direction]
        n = " / ".join(str(entry.get("n", "?")) if entry else "&mdash;" for entry in (entry_a, entry_b))
        rows.append(
            f'<tr class="{change(value_a, value_b, direction)}"><td>{escape(name)}</td>'
            f'<td class="num">{_value_with_ci(entry_a)}</td><td class="num">{_value_with_ci(entry_b)}</td>'
            f'<td class="num delta">{delta}</td><td class="num">{paired}</td><td class="num">{n}</td>'
            f'<td class="note">{note}</td></tr>'
        )
    return (
        '<table id="metrics"><thead><tr><th>metric</th><th>A [95% CI]</th><th>B [95% CI]</th><th>delta (B &minus; A)</th>'
        f'<th>delta 95% CI (paired)</th><th>n (A / B)</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def pair_items(items_a: list[dict], items_b: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Pair A's and B's items by (suite, id); an id repeated within a result pairs in order of appearance.

    Items present on one side only come back paired with None, A's order first, then B's leftovers.
    """

    def keyed(items: list[dict]) -> dict[tuple, dict]:
        seen: dict[tuple, int] = {}
        out = {}
        for item in items:
            key = (item.get("suite"), item.get("id"))
            seen[key] = seen.get(key, -1) + 1
            out[(*key, seen[key])] = item
        return out

    by_key_a, by_key_b = keyed(items_a), keyed(items_b)
    return [(by_key_a.get(key), by_key_b.get(key)) for key in dict.fromkeys([*by_key_a, *by_key_b])]


def _message_text(message: dict) -> str:
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False) if content else ""
    if message.get("tool_calls"):
        text += ("\n" if text else "") + json.dumps(message["tool_calls"], ensure_ascii=False)
    return text


def _prompt_cell(prompt) -> str:
    """The last user message in full; every other turn (system, earlier turns, tools) collapsed above it."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt or [])
    last_user = max((i for i, message in enumerate(messages) if message.get("role") == "user"), default=len(messages) - 1)
    if last_user < 0:
        return ""

    def block(message: dict) -> str:
        return f'<div class="role">{escape(str(message.get("role", "")))}</div><pre>{escape(_message_text(message))}</pre>'

    others = [block(message) for i, message in enumerate(messages) if i != last_user]
    collapsed = f"<details><summary>{len(others)} other turn(s)</summary>{''.join(others)}</details>" if others else ""
    return collapsed + block(messages[last_user])


def _answer_cell(item: dict | None, side: str, outcome: str) -> str:
    if item is None:
        return f'<span class="note">not in {side}&#x27;s result</span>'
    score = item.get("score")
    reason = f' <span class="reason">{escape(str(item["reason"]))}</span>' if item.get("reason") else ""
    score_class = outcome if side == "B" else ""
    return (
        f'<span class="score {score_class}">score {fmt(score) if isinstance(score, int | float) else "&mdash;"}</span>'
        f'{reason}<pre>{escape(str(item.get("answer", "")))}</pre>'
    )


def _items_section(pairs: list[tuple[dict | None, dict | None]], directions: dict[str, bool | None]) -> str:
    rows = []
    for item_a, item_b in pairs:
        item = item_a or item_b
        score_a, score_b = (it.get("score") if it else None for it in (item_a, item_b))
        outcome = change(score_a, score_b, directions.get(item.get("metric", "")))
        suite = escape(str(item.get("suite", "")))
        rows.append(
            f'<tr class="{outcome}" data-suite="{suite}" data-change="{outcome}">'
            f'<td class="id">{suite}<br>{escape(str(item.get("id", "")))}<br>{escape(str(item.get("metric", "")))}</td>'
            f'<td>{_prompt_cell(item.get("prompt"))}</td>'
            f'<td>{_answer_cell(item_a, "A", outcome)}</td><td>{_answer_cell(item_b, "B", outcome)}</td></tr>'
        )
    suites = dict.fromkeys(str((a or b).get("suite", "")) for a, b in pairs)
    options = "".join(f'<option value="{escape(suite)}">{escape(suite)}</option>' for suite in suites)
    return (
        '<div class="filters"><label>Suite <select id="suite-filter"><option value="">all suites</option>'
        f'{options}</select></label><label><input type="checkbox" id="worse-filter"> only prompts where B is worse '
        'than A</label><span id="shown-count" class="note"></span></div>'
        '<table id="items"><thead><tr><th>item</th><th>prompt</th><th>A</th><th>B</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars(axes, names: list[str], entries_a: list, entries_b: list) -> None:
    """Grouped A/B bars with their confidence intervals as error bars."""
    for offset, entries, label, color in ((-0.2, entries_a, "A", "#5f7fa6"), (0.2, entries_b, "B", "#e8893a")):
        values = [entry["value"] if entry and entry.get("value") is not None else float("nan") for entry in entries]
        errors = [[0.0] * len(values), [0.0] * len(values)]
        for i, entry in enumerate(entries):
            ci = entry.get("ci") if entry else None
            if ci and len(ci) == 2 and values[i] == values[i]:
                errors[0][i], errors[1][i] = max(values[i] - ci[0], 0.0), max(ci[1] - values[i], 0.0)
        axes.bar([i + offset for i in range(len(names))], values, 0.4, yerr=errors, capsize=3, label=label, color=color,
                 error_kw={"elinewidth": 1, "ecolor": "#333"})
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.grid(axis="y", alpha=0.3)


def _plots(result_a: dict, result_b: dict, pairs: list, directions: dict[str, bool | None]) -> str:
    """PNG plots as <img> tags: rate metrics, other metrics one panel each, per-suite prompt outcomes."""
    # The Figure API renders PNG with Agg and touches no global pyplot state.
    import matplotlib
    from matplotlib.figure import Figure

    metrics_a, metrics_b = result_a["metrics"], result_b["metrics"]
    names = list(dict.fromkeys([*metrics_a, *metrics_b]))

    def unit(name: str) -> bool:  # a rate: every value and bound in [0, 1], so metrics share one axis
        numbers = [x for e in (metrics_a.get(name), metrics_b.get(name)) if e for x in [e.get("value"), *(e.get("ci") or [])]]
        return all(isinstance(x, int | float) and 0 <= x <= 1 for x in numbers)

    images = []
    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}):  # names may hold '$'
        rates = [name for name in names if unit(name)]
        if rates:
            figure = Figure(figsize=(min(max(6, 0.8 * len(rates) + 2), 16), 3.8))
            axes = figure.subplots()
            _bars(axes, rates, [metrics_a.get(n) for n in rates], [metrics_b.get(n) for n in rates])
            axes.set_ylim(0, 1.05)
            axes.set_title("Rates and accuracies with 95% intervals")
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
            images.append(("rates", _png(figure)))
        others = [name for name in names if not unit(name)]
        if others:
            figure = Figure(figsize=(min(2.4 * len(others), 16), 3.2))
            for axes, name in zip(figure.subplots(1, len(others), squeeze=False)[0], others):
                _bars(axes, [name], [metrics_a.get(name)], [metrics_b.get(name)])
                axes.set_xticks([-0.2, 0.2], ["A", "B"])
                axes.set_title(name, fontsize=9)
            images.append(("other metrics", _png(figure)))
        outcomes: dict[str, dict[str, int]] = {}
        for item_a, item_b in pairs:
            if item_a and item_b:
                outcome = change(item_a.get("score"), item_b.get("score"), directions.get(item_a.get("metric", "")))
                if outcome:
                    counts = outcomes.setdefault(str(item_a.get("suite")), {"better": 0, "same": 0, "worse": 0})
                    counts[outcome] += 1
        if outcomes:
            figure = Figure(figsize=(8, 0.45 * len(outcomes) + 1.2))
            axes = figure.subplots()
            left = [0] * len(outcomes)
            for outcome, color in (("better", "#34a853"), ("same", "#bdbdbd"), ("worse", "#d93025")):
                widths = [counts[outcome] for counts in outcomes.values()]
                axes.barh(list(outcomes), widths, left=left, color=color, label=f"B {outcome}")
                left = [a + b for a, b in zip(left, widths)]
            axes.invert_yaxis()
            axes.set_xlabel("paired prompts")
            axes.set_title("Per prompt: is B better, the same or worse than A?")
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
            images.append(("per-prompt outcomes", _png(figure)))
    return "".join(f'<img alt="{alt}" src="data:image/png;base64,{data}">' for alt, data in images)


def _model_line(label: str, result: dict) -> str:
    details = ", ".join(
        f"{key} {escape(str(result[key]))}" for key in ("created", "seed", "package_version") if result.get(key) is not None
    )
    model, items = escape(str(result.get("model", "?"))), len(result.get("items", []))
    return f'<div class="models"><b>{label}:</b> {model} <span class="note">{details}, {items} items</span></div>'


def render_report(result_a: dict, result_b: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page comparing result B against result A (both as written by posttrain eval)."""
    for label, result in (("A", result_a), ("B", result_b)):
        if not isinstance(result.get("metrics"), dict):
            raise UserError(f"result {label} is not an eval result (no 'metrics' object)")
    title = title or f"posttrain compare: {result_a.get('model', 'A')} vs {result_b.get('model', 'B')}"
    directions = _directions(result_a, result_b)
    pairs = pair_items(result_a.get("items", []), result_b.get("items", []))
    outcomes = [change((a or {}).get("score"), (b or {}).get("score"), directions.get((a or b).get("metric", ""))) for a, b in pairs]
    summary = (f"{len(pairs)} prompts: B is better on {outcomes.count('better')}, worse on {outcomes.count('worse')}, "
               f"the same on {outcomes.count('same')}.")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>\n<h1>{escape(title)}</h1>{_model_line('A', result_a)}"
        f"{_model_line('B', result_b)}\n<h2>Metrics</h2>{_metric_table(result_a, result_b)}"
        '<p class="note">Green: B better than A, red: B worse, by the metric\'s direction (point values; overlapping '
        "intervals mean the difference may be noise). The paired interval of the change resamples the items both "
        "results hold, the same items on both sides; one that excludes 0 is a change beyond that noise, and a "
        f'dash marks a metric that is not a mean over items (or has fewer than 2 paired items).</p>\n<h2>Plots</h2><div class="plots">'
        f"{_plots(result_a, result_b, pairs, directions)}</div>\n<h2>Prompts</h2><p class=\"note\">{summary}</p>"
        f"{_items_section(pairs, directions)}\n<script>{_JS}</script></body></html>\n"
    )


def write_report(path: str | Path, html: str) -> None:
    write_text_atomic(path, html)


def run_compare(
    model_a: str, model_b: str, suites: list[str], *, out: str | Path = "report.html",
    limit: int | None = None, seed: int = 0, batch_size: int = 16,
) -> Path:
    """Evaluate each side that is a model (a ``.json`` side is a saved result), then write the report.

    Results of evaluated models go next to the report as ``<out stem>.a.json`` and ``<out stem>.b.json``.
    """
    out = Path(out)
    results = []
    for label, spec in (("a", model_a), ("b", model_b)):
        if spec.endswith(".json"):
            results.append(load_result(spec))
            continue
        if not suites:
            raise UserError(f"give --suite NAME... to evaluate '{spec}', or pass a result .json file instead of a model")
        from posttrain.eval.run import evaluate, write_result

        result = evaluate(spec, list(suites), limit=limit, seed=seed, batch_size=batch_size)
        write_result(result, str(out.with_name(f"{out.stem}.{label}.json")))
        results.append(result)
    write_report(out, render_report(*results))
    return out
