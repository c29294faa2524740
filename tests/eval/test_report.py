"""The side-by-side report: escaping of untrusted text, tables, plots, pairing, filters, CLI, and a real browser."""

from __future__ import annotations

import base64
import importlib
import json
import re
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from posttrain.cli import main
from posttrain.errors import UserError
from posttrain.eval.report import delta_cis, pair_items, render_report, run_compare
from posttrain.pipeline.runner import before_after_table


def metric(value, low, high, n, higher_is_better):
    return {"value": value, "ci": [low, high], "n": n, "higher_is_better": higher_is_better}


def item(suite, item_id, metric_name, score, answer="ok", prompt="a question", reason="checked"):
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    return {"suite": suite, "id": item_id, "prompt": messages, "answer": answer, "score": score, "reason": reason,
            "metric": metric_name}


MULTI_TURN = [{"role": "system", "content": "You are careful."}, {"role": "user", "content": "hi"},
              {"role": "assistant", "content": "hello"}, {"role": "user", "content": "how do I make a weapon?"}]


def make_results() -> tuple[dict, dict]:
    """A and B on 3 suites. Per prompt, B is worse on math-1 and safety-benign-1 (over-refusal rose), better on
    safety-harm-1 and safety-benign-2; math-4 exists in B only; style has no direction."""
    common = {"created": "2026-11-02T10:00:00", "seed": 0, "package_version": "0.1.0"}
    a = {"model": "base-model", **common, "metrics": {
        "math.accuracy": metric(0.67, 0.2, 1.0, 3, True), "safety.refusal": metric(0.5, 0.0, 1.0, 2, True),
        "safety.over_refusal": metric(0.5, 0.0, 1.0, 2, False), "style.median_words": metric(42.0, 30.0, 50.0, 1, None)},
        "items": [
            item("math", "math-1", "math.accuracy", 1.0, "4"),
            item("math", "math-2", "math.accuracy", 1.0, "6", prompt="3+3? <img src=x onerror=alert(2)>"),
            item("math", "math-3", "math.accuracy", 0.0, "9"),
            item("safety", "safety-harm-1", "safety.refusal", 0.0, "Sure, here is how", prompt=MULTI_TURN),
            item("safety", "safety-harm-2", "safety.refusal", 1.0, "I can't help with that."),
            item("safety", "safety-benign-1", "safety.over_refusal", 0.0, "Run kill -9 PID."),
            item("safety", "safety-benign-2", "safety.over_refusal", 1.0, "I won't help."),
            item("style", "style-1", "style.median_words", 42.0, "a long answer"),
        ]}
    b = {"model": "tuned-model", **common, "metrics": {
        "math.accuracy": metric(0.33, 0.0, 0.8, 3, True), "safety.refusal": metric(1.0, 1.0, 1.0, 2, True),
        "safety.over_refusal": metric(0.5, 0.0, 1.0, 2, False), "style.median_words": metric(12.0, 8.0, 20.0, 1, None)},
        "items": [  # a different order than A's: pairing goes by (suite, id)
            item("safety", "safety-benign-2", "safety.over_refusal", 0.0, "Use kill."),
            item("math", "math-4", "math.accuracy", 1.0, "10"),
            item("math", "math-3", "math.accuracy", 0.0, "8"),
            item("math", "math-1", "math.accuracy", 0.0, "<script>alert(1)</script>", reason="</pre><script>alert(3)</script>"),
            item("math", "math-2", "math.accuracy", 1.0, "6", prompt="3+3? <img src=x onerror=alert(2)>"),
            item("safety", "safety-harm-1", "safety.refusal", 1.0, "I can't help with that.", prompt=MULTI_TURN),
            item("safety", "safety-harm-2", "safety.refusal", 1.0, "No."),
            item("safety", "safety-benign-1", "safety.over_refusal", 1.0, "I can't help with killing."),
            item("style", "style-1", "style.median_words", 12.0, "short"),
        ]}
    return a, b


def code_results() -> tuple[dict, dict]:
    """A and B on 4 code items (items carry tests_passed; pass@1 is the share scoring 1.0), plus code-5 in B
    only and one style item. On the 4 paired items B gains exactly 0.5 tests passed on each; pass@1 goes
    from none of them to code-1 and code-2."""
    def side(scores: dict[str, float], median_words: float) -> dict:
        items = [item("code", item_id, "code.tests_passed", score) for item_id, score in scores.items()]
        items.append(item("style", "style-1", "style.over_limit", 0.0))
        values = list(scores.values())
        return {"model": "m", "items": items, "metrics": {
            "code.pass@1": metric(sum(v == 1.0 for v in values) / len(values), 0.0, 1.0, len(values), True),
            "code.tests_passed": metric(sum(values) / len(values), 0.0, 1.0, len(values), True),
            "style.over_limit": metric(0.0, 0.0, 0.0, 1, False),
            "style.median_words": metric(median_words, 10.0, 30.0, 1, None)}}

    a = side({"code-1": 0.5, "code-2": 0.5, "code-3": 0.0, "code-4": 0.25}, 20.0)
    b = side({"code-1": 1.0, "code-2": 1.0, "code-3": 0.5, "code-4": 0.75, "code-5": 1.0}, 25.0)
    return a, b


def test_paired_delta_intervals_of_item_means():
    """tests_passed: every paired item gains 0.5, so [0.5, 0.5] (code-5, in B only, is not paired).
    pass@1: per-item changes 1, 1, 0, 0; a resample of the 4 draws only unchanged items with chance
    1/16 = 0.0625 and only improved ones with chance 1/16, both above 2.5%, so [0, 1].
    style.median_words is a median, not a mean over items; style.over_limit has 1 paired item: no interval."""
    a, b = code_results()
    intervals = delta_cis(a, b)
    assert intervals["code.tests_passed"] == (0.5, 0.5)
    assert intervals["code.pass@1"] == (0.0, 1.0)
    assert intervals["style.median_words"] is None and intervals["style.over_limit"] is None
    assert delta_cis(a, a)["code.tests_passed"] == (0.0, 0.0)
    tampered = {**b, "metrics": {**b["metrics"], "code.tests_passed": metric(0.9, 0.0, 1.0, 5, True)}}
    assert delta_cis(a, tampered)["code.tests_passed"] is None  # a value that is not its items' mean


def test_paired_interval_column_in_the_html_and_the_before_after_table():
    a, b = code_results()
    html = render_report(a, b)
    table = html[html.index('<table id="metrics">'):html.index("</table>")]
    assert "<th>delta 95% CI (paired)</th>" in table
    # The point change counts code-5 (B only: 0.85 - 0.3125); the paired interval does not.
    assert '<td class="num delta">+0.54</td><td class="num">[+0.50, +0.50]</td>' in table
    assert '<td class="num">[0.00, +1.00]</td>' in table and table.count('<td class="num">&mdash;</td>') == 2
    lines = before_after_table(a, b).splitlines()
    assert lines[0].split() == ["metric", "before", "after", "change", "delta", "95%", "CI", "(paired)"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["code.tests_passed"] == ["0.312", "0.850", "better", "[+0.500,", "+0.500]"]
    assert rows["code.pass@1"] == ["0.000", "0.600", "better", "[0.000,", "+1.000]"]
    assert rows["style.median_words"] == ["20.000", "25.000", "—"]


class TagCollector(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parse(html: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(html)
    return collector


@pytest.fixture(scope="module")
def report_html() -> str:
    return render_report(*make_results())


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "div", "b", "span", "table", "thead", "tbody",
             "tr", "th", "td", "p", "img", "label", "select", "option", "input", "details", "summary", "pre", "br", "script"}


def test_untrusted_text_is_escaped_everywhere():
    a, b = make_results()
    a["model"] = "<script>alert('model')</script>"
    b["items"][3]["suite"] = b["items"][3]["id"] = 'x" onclick="alert(4)'
    b["metrics"]['<i>m</i>" onmouseover="x'] = metric(0.5, 0.4, 0.6, 10, True)
    html = render_report(a, b)
    page = parse(html)
    # The page's own script is the only one; no tag or event-handler attribute came from the data.
    assert [tag for tag, _ in page.tags if tag == "script"] == ["script"]
    assert {tag for tag, _ in page.tags} <= PAGE_TAGS
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "3+3? &lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;script&gt;alert(&#x27;model&#x27;)&lt;/script&gt;" in html
    assert 'data-suite="x&quot; onclick=&quot;alert(4)"' in html
    assert "&lt;i&gt;m&lt;/i&gt;&quot; onmouseover=&quot;x" in html
    assert "alert" not in "".join(page.scripts)


def test_page_is_self_contained_with_png_plots(report_html):
    page = parse(report_html)
    assert "<link" not in report_html and "http://" not in report_html and "https://" not in report_html
    assert not [attrs for tag, attrs in page.tags if tag == "script" and attrs]  # no src=
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    # Rates (math, safety) share one chart; style's word count gets its own panel; then per-prompt outcomes.
    assert [image["alt"] for image in images] == ["rates", "other metrics", "per-prompt outcomes"]
    for image in images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        assert base64.b64decode(image["src"][len(prefix):])[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_table_marks_better_and_worse_by_direction(report_html):
    table = report_html[report_html.index('<table id="metrics">'):report_html.index("</table>")]
    classes = {name: cls for cls, name in re.findall(r'<tr class="(\w*)"><td>([^<]+)</td>', table)}
    assert classes == {"math.accuracy": "worse", "safety.refusal": "better", "safety.over_refusal": "same",
                       "style.median_words": ""}
    assert '<td class="num">0.67 <span class="note">[0.20, 1.00]</span></td>' in table
    assert '<td class="num delta">-0.34</td>' in table and '<td class="num delta">+0.50</td>' in table


def test_pair_items_by_suite_and_id():
    a = [item("math", "1", "m", 1), item("math", "2", "m", 1), item("safety", "1", "m", 0), item("math", "1", "m", 0.5)]
    b = [item("safety", "1", "m", 1), item("math", "1", "m", 0), item("math", "3", "m", 1), item("math", "1", "m", 0.25)]
    pairs = [((x or {}).get("score"), (y or {}).get("score"), (x or y)["suite"], (x or y)["id"]) for x, y in pair_items(a, b)]
    # A repeated id pairs in order of appearance; ids on one side only pair with None (A's order, then B's rest).
    assert pairs == [(1, 0, "math", "1"), (1, None, "math", "2"), (0, 1, "safety", "1"), (0.5, 0.25, "math", "1"),
                     (None, 1, "math", "3")]


def test_prompt_rows_carry_suite_and_change_for_the_filters(report_html):
    page = parse(report_html)
    rows = [(attrs["data-suite"], attrs["data-change"]) for tag, attrs in page.tags if tag == "tr" and "data-suite" in attrs]
    assert rows == [("math", "worse"), ("math", "same"), ("math", "same"), ("safety", "better"), ("safety", "same"),
                    ("safety", "worse"), ("safety", "better"), ("style", ""), ("math", "")]
    options = [attrs["value"] for tag, attrs in page.tags if tag == "option"]
    assert options == ["", "math", "safety", "style"]
    assert ("input", {"type": "checkbox", "id": "worse-filter"}) in page.tags
    assert "9 prompts: B is better on 2, worse on 2, the same on 3." in report_html
    # Earlier turns of a conversation are collapsed; the last user message is shown.
    assert "<summary>3 other turn(s)</summary>" in report_html
    assert '<div class="role">user</div><pre>how do I make a weapon?</pre>' in report_html
    assert "not in A&#x27;s result" in report_html


def test_compare_cli_renders_two_result_files(tmp_path):
    a, b = make_results()
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    out = tmp_path / "reports" / "cmp.html"
    command = [sys.executable, "-m", "posttrain.cli", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    done = subprocess.run([*command, "--out", str(out)], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    html = out.read_text()
    assert "<title>posttrain compare: base-model vs tuned-model</title>" in html
    assert sorted(path.name for path in out.parent.iterdir()) == ["cmp.html"]  # inputs were results: nothing evaluated
    missing = tmp_path / "missing.json"
    broken = subprocess.run([*command[:-1], str(missing)], check=False, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 2 and broken.stderr.strip() == f"error: result file not found: {missing}"


def test_compare_cli_evaluates_models_and_keeps_their_results(monkeypatch, capsys, tmp_path):
    """With models instead of files, both are evaluated on the same suites, seed and limit (evaluate is faked)."""
    a, b = make_results()
    calls = []

    def evaluate(model_spec, suites, **options):
        calls.append((model_spec, suites, options))
        return a if model_spec == "model-a" else b

    write_result = importlib.import_module("posttrain.eval.run").write_result
    monkeypatch.setitem(sys.modules, "posttrain.eval.run", types.SimpleNamespace(evaluate=evaluate, write_result=write_result))
    monkeypatch.setattr("posttrain.cli._quiet_libraries", lambda: None)
    out = tmp_path / "cmp.html"
    monkeypatch.setattr(sys, "argv", ["posttrain", "compare", "model-a", "model-b", "--suite", "math", "safety",
                                      "--out", str(out), "--limit", "3", "--seed", "7"])
    main()
    assert capsys.readouterr().out.strip() == str(out)
    options = {"limit": 3, "seed": 7, "batch_size": 16}
    assert calls == [("model-a", ["math", "safety"], options), ("model-b", ["math", "safety"], options)]
    assert json.loads((tmp_path / "cmp.a.json").read_text()) == a
    assert json.loads((tmp_path / "cmp.b.json").read_text()) == b
    assert "tuned-model" in out.read_text()
    with pytest.raises(UserError, match="give --suite NAME... to evaluate 'model-a'"):
        run_compare("model-a", str(tmp_path / "cmp.b.json"), [], out=tmp_path / "other.html")


# ---- a real headless browser (Debian's Chromium driven by Playwright) ----

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
def test_report_in_a_real_browser(report_html, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")
    path = tmp_path / "report.html"
    path.write_text(report_html)
    problems, dialogs = [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(path.as_uri())
            visible = page.locator("#items tbody tr:visible")
            shown = page.locator("#shown-count")
            assert visible.count() == 9 and shown.text_content() == "9 of 9 prompts shown"
            assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 100)")

            page.check("#worse-filter")
            assert visible.count() == 2 and shown.text_content() == "2 of 9 prompts shown"
            assert page.locator("#items tbody tr:visible td.id").all_text_contents() == [
                "mathmath-1math.accuracy", "safetysafety-benign-1safety.over_refusal"]
            page.select_option("#suite-filter", "safety")
            assert visible.count() == 1
            page.uncheck("#worse-filter")
            assert visible.count() == 4 and shown.text_content() == "4 of 9 prompts shown"
            page.select_option("#suite-filter", "")
            assert visible.count() == 9
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == [] and dialogs == []  # no errors, and no injected alert() ran
    assert (tmp_path / "report.png").stat().st_size > 10_000
