"""The regression gate: allowances, the interval rule, --strict, bad input, and the CLI's exit codes."""

from __future__ import annotations

import json
import sys

import pytest

from posttrain.cli import main
from posttrain.errors import UserError
from posttrain.eval.gate import check_gate, format_gate_table, parse_allowances


def result(**metrics: tuple[float, float, float]) -> dict:
    """An eval result with metrics given as name=(value, ci_low, ci_high); '__' in a name stands for '.'
    and 'red_team' for 'red-team'."""
    return {"model": "m", "metrics": {
        name.replace("__", ".").replace("red_team.", "red-team."): {"value": value, "ci": [low, high], "n": 50,
                                                                     "higher_is_better": True}
        for name, (value, low, high) in metrics.items()
    }, "items": []}


BASELINE = result(safety__refusal=(0.90, 0.82, 0.96), safety__over_refusal=(0.10, 0.04, 0.18), math__accuracy=(0.40, 0.3, 0.5))


def only_row(gate_result):
    (row,) = gate_result.rows
    return row


def test_drop_within_allowance_passes():
    new = result(safety__refusal=(0.89, 0.80, 0.95))
    row = only_row(check_gate(new, BASELINE, max_drop={"safety.refusal": 0.02}, max_rise={}))
    assert (row.verdict, row.old, row.new) == ("ok", 0.90, 0.89)
    assert row.delta == pytest.approx(-0.01)


def test_drop_exactly_at_allowance_passes_despite_float_rounding():
    """0.90 - 0.88 is 0.020000000000000018 in floating point; that is 'at' the allowance, not beyond."""
    new = result(safety__refusal=(0.88, 0.88, 0.88))
    assert check_gate(new, BASELINE, max_drop={"safety.refusal": 0.02}, max_rise={}, use_intervals=False).passed


def test_drop_beyond_allowance_and_beyond_the_interval_fails():
    """Allowed floor 0.90 - 0.02 = 0.88; the new interval's top 0.85 lies below it: a real regression."""
    new = result(safety__refusal=(0.80, 0.74, 0.85))
    gate = check_gate(new, BASELINE, max_drop={"safety.refusal": 0.02}, max_rise={})
    assert not gate.passed
    assert only_row(gate).verdict == "fail"
    assert only_row(gate).reason == "safety.refusal dropped 0.10 (allowed 0.02)"


def test_drop_inside_the_noise_passes_with_intervals_and_fails_when_strict():
    """Point drop 0.10 > 0.02, but the new interval reaches 0.89 >= the floor 0.88: noise, unless --strict."""
    new = result(safety__refusal=(0.80, 0.70, 0.89))
    lenient = check_gate(new, BASELINE, max_drop={"safety.refusal": 0.02}, max_rise={})
    assert lenient.passed and only_row(lenient).verdict == "noise"
    assert "interval [0.70, 0.89]" in only_row(lenient).reason
    strict = check_gate(new, BASELINE, max_drop={"safety.refusal": 0.02}, max_rise={}, use_intervals=False)
    assert not strict.passed and only_row(strict).verdict == "fail"


def test_rise_uses_the_lower_end_of_the_interval():
    """Allowed ceiling 0.10 + 0.05 = 0.15: an interval starting at 0.16 fails, one starting at 0.14 is noise."""
    beyond = check_gate(result(safety__over_refusal=(0.20, 0.16, 0.25)), BASELINE, max_drop={},
                        max_rise={"safety.over_refusal": 0.05})
    assert not beyond.passed and only_row(beyond).reason == "safety.over_refusal rose 0.10 (allowed 0.05)"
    noisy = check_gate(result(safety__over_refusal=(0.20, 0.14, 0.25)), BASELINE, max_drop={},
                       max_rise={"safety.over_refusal": 0.05})
    assert noisy.passed and only_row(noisy).verdict == "noise"


def test_moving_in_the_good_direction_passes():
    new = result(safety__refusal=(0.99, 0.97, 1.0), safety__over_refusal=(0.0, 0.0, 0.02))
    gate = check_gate(new, BASELINE, max_drop={"safety.refusal": 0.0}, max_rise={"safety.over_refusal": 0.0})
    assert gate.passed and [row.verdict for row in gate.rows] == ["ok", "ok"]


def test_only_the_regressed_metric_fails():
    new = result(safety__refusal=(0.70, 0.6, 0.8), safety__over_refusal=(0.11, 0.05, 0.2), math__accuracy=(0.41, 0.3, 0.5))
    gate = check_gate(new, BASELINE, max_drop={"safety.refusal": 0.02, "math.accuracy": 0.05},
                      max_rise={"safety.over_refusal": 0.05})
    assert [row.metric for row in gate.failures] == ["safety.refusal"]


def test_absolute_bounds_hold_whatever_the_baseline():
    """A floor of 0.9: 0.92 is ok, 0.85 with an interval reaching 0.91 is noise, 0.80 topping out at 0.86 fails,
    even though every one of them is far above the baseline's 0.10. A ceiling mirrors it on the interval's bottom."""
    low_baseline = result(safety__refusal=(0.10, 0.05, 0.15))
    floor = {"safety.refusal": 0.9}
    verdicts = [only_row(check_gate(result(safety__refusal=value), low_baseline, max_drop={}, max_rise={}, at_least=floor))
                for value in [(0.92, 0.88, 0.96), (0.85, 0.79, 0.91), (0.80, 0.74, 0.86)]]
    assert [row.verdict for row in verdicts] == ["ok", "noise", "fail"]
    assert verdicts[2].reason == "safety.refusal is 0.80, below its floor 0.90"
    assert (verdicts[2].check, verdicts[2].old, verdicts[2].allowance) == ("at-least", 0.10, 0.9)
    ceiling = {"red-team.attack_success": 0.2}
    rows = [only_row(check_gate(result(red_team__attack_success=value), low_baseline, max_drop={}, max_rise={},
                                at_most=ceiling)) for value in [(0.15, 0.1, 0.2), (0.25, 0.18, 0.3), (0.3, 0.22, 0.4)]]
    assert [row.verdict for row in rows] == ["ok", "noise", "fail"]
    # A bound needs the metric in the new result only; without a baseline value there is no delta.
    assert (rows[2].old, rows[2].delta) == (None, None) and rows[2].reason.endswith("above its ceiling 0.20")
    assert "  -  " in format_gate_table(check_gate(result(red_team__attack_success=(0.3, 0.22, 0.4)), low_baseline,
                                                   max_drop={}, max_rise={}, at_most=ceiling))


def test_missing_metric_names_the_closest_and_the_available_ones():
    new = result(safety__refusal=(0.9, 0.8, 1.0))
    with pytest.raises(UserError, match=r"metric 'safety.refusl' is missing from the baseline \(did you mean "
                                        r"'safety.refusal'\?\); available: math.accuracy, safety.over_refusal, "
                                        r"safety.refusal$"):
        check_gate(new, BASELINE, max_drop={"safety.refusl": 0.02}, max_rise={})
    with pytest.raises(UserError, match="'math.accuracy' is missing from the new result"):
        check_gate(new, BASELINE, max_drop={}, max_rise={"math.accuracy": 0.1})
    with pytest.raises(UserError, match="'tools.accuracy' is missing from the baseline"):
        check_gate(result(tools__accuracy=(0.5, 0.4, 0.6)), BASELINE, max_drop={"tools.accuracy": 0.1}, max_rise={})


def test_parse_allowances():
    assert parse_allowances(["safety.refusal=0.02", " math.accuracy = 0.1"], "--max-drop") == {
        "safety.refusal": 0.02, "math.accuracy": 0.1}
    for bad in ["safety.refusal", "safety.refusal=", "=0.1", "safety.refusal=lots", "safety.refusal=-0.1", "x=nan"]:
        with pytest.raises(UserError, match="--max-drop expects METRIC=ALLOWANCE"):
            parse_allowances([bad], "--max-drop")
    with pytest.raises(UserError, match="names 'a' twice"):
        parse_allowances(["a=1", "a=2"], "--max-rise")


# ---- the command line, run in-process through the real entry point (exit codes included) ----

def run_posttrain(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["posttrain", *args])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(tmp_path):
    paths = {"old": tmp_path / "old.json", "bad": tmp_path / "new-bad.json", "good": tmp_path / "new-good.json"}
    paths["old"].write_text(json.dumps(BASELINE))
    paths["bad"].write_text(json.dumps(result(safety__refusal=(0.80, 0.74, 0.85), safety__over_refusal=(0.1, 0.05, 0.2))))
    paths["good"].write_text(json.dumps(result(safety__refusal=(0.91, 0.85, 0.97), safety__over_refusal=(0.1, 0.05, 0.2))))
    return {name: str(path) for name, path in paths.items()}


def test_cli_passes_with_exit_0_and_prints_the_table(monkeypatch, capsys, files):
    code, out, err = run_posttrain(monkeypatch, capsys, "gate", files["good"], "--baseline", files["old"],
                                   "--max-drop", "safety.refusal=0.02", "--max-rise", "safety.over_refusal=0.05")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["metric", "check", "baseline", "new", "delta", "allowed", "verdict"]
    assert lines[1].split() == ["safety.refusal", "max-drop", "0.90", "0.91", "+0.01", "0.02", "ok"]
    assert lines[2].split() == ["safety.over_refusal", "max-rise", "0.10", "0.10", "0.00", "0.05", "ok"]


def test_cli_fails_with_exit_1_naming_the_metric(monkeypatch, capsys, files):
    code, out, err = run_posttrain(monkeypatch, capsys, "gate", files["bad"], "--baseline", files["old"],
                                   "--max-drop", "safety.refusal=0.02", "--max-rise", "safety.over_refusal=0.05")
    assert code == 1
    assert err.strip() == "gate failed: safety.refusal dropped 0.10 (allowed 0.02)"
    assert "FAIL" in out


def test_cli_absolute_bounds(monkeypatch, capsys, files):
    """The bad candidate's 0.80 (interval top 0.85) is under a 0.9 floor: exit 1; under a 0.8 floor it passes."""
    code, _, err = run_posttrain(monkeypatch, capsys, "gate", files["bad"], "--baseline", files["old"],
                                 "--at-least", "safety.refusal=0.9")
    assert code == 1 and err.strip() == "gate failed: safety.refusal is 0.80, below its floor 0.90"
    code, out, _ = run_posttrain(monkeypatch, capsys, "gate", files["bad"], "--baseline", files["old"],
                                 "--at-least", "safety.refusal=0.8", "--at-most", "safety.over_refusal=0.2")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["safety.refusal", "at-least"]
    code, _, err = run_posttrain(monkeypatch, capsys, "gate", files["bad"], "--baseline", files["old"],
                                 "--at-most", "safety.over_refusal")
    assert code == 2 and err.startswith("error: --at-most expects METRIC=VALUE")


def test_cli_json_output(monkeypatch, capsys, files):
    code, out, _ = run_posttrain(monkeypatch, capsys, "gate", files["bad"], "--baseline", files["old"],
                                 "--max-drop", "safety.refusal=0.2", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["passed"] is True
    assert report["rows"][0]["metric"] == "safety.refusal" and report["rows"][0]["verdict"] == "ok"


def test_cli_strict_turns_noise_into_failure(monkeypatch, capsys, files, tmp_path):
    noisy = tmp_path / "noisy.json"
    noisy.write_text(json.dumps(result(safety__refusal=(0.80, 0.70, 0.89))))
    args = ("gate", str(noisy), "--baseline", files["old"], "--max-drop", "safety.refusal=0.02")
    assert run_posttrain(monkeypatch, capsys, *args)[0] == 0
    assert run_posttrain(monkeypatch, capsys, *args, "--strict")[0] == 1


@pytest.mark.parametrize("args, message", [
    (("--max-drop", "safety.refusal:0.02"),
     "error: --max-drop expects METRIC=ALLOWANCE with a number >= 0, e.g. safety.refusal=0.02; got 'safety.refusal:0.02'"),
    (("--max-rise", "safety.overrefusal=0.05"),
     "error: metric 'safety.overrefusal' is missing from the baseline (did you mean 'safety.over_refusal'?)"),
    ((), "error: nothing to check"),
])
def test_cli_bad_arguments_exit_2_with_one_line(monkeypatch, capsys, files, args, message):
    code, out, err = run_posttrain(monkeypatch, capsys, "gate", files["good"], "--baseline", files["old"], *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(message)


def test_cli_unreadable_files_exit_2(monkeypatch, capsys, files, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"metrics": {')
    not_a_result = tmp_path / "list.json"
    not_a_result.write_text("[1, 2]")
    for path, message in [(broken, f"error: {broken}:1: invalid JSON"), (tmp_path / "nope.json", "error: result file not found"),
                          (not_a_result, "error: " + str(not_a_result) + ": not an eval result")]:
        code, _, err = run_posttrain(monkeypatch, capsys, "gate", str(path), "--baseline", files["old"],
                                     "--max-drop", "safety.refusal=0.02")
        assert code == 2 and err.startswith(message), err
