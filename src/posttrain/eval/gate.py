"""The regression gate: does a new eval result stay within its allowances of a baseline result?

    posttrain gate NEW.json --baseline OLD.json --max-drop safety.refusal=0.02 --max-rise safety.over_refusal=0.05

``--max-drop M=A`` bounds how far metric M may fall below the baseline value, ``--max-rise M=A`` how
far it may climb above it. A point-value excursion beyond the allowance is not enough to fail when
intervals are used (the default): eval sets are small, so the new value must be worse *beyond its own
noise*. The rule, with ``old`` the baseline value and ``[low, high]`` the new value's confidence interval:

- max-drop fails when ``old - new > allowance`` and ``high < old - allowance``
  (even the optimistic end of the new interval lies below what is allowed);
- max-rise fails when ``new - old > allowance`` and ``low > old + allowance``.

A point excursion whose interval still reaches the allowed region is reported as ``noise`` and passes.
``--strict`` (``use_intervals=False``), and any metric saved without an interval, compares point values
only. The command exits 0 when every check passes, 1 when a metric regressed (naming it), 2 for bad input.

A baseline only holds the line where it was good. When it is the untrained base model (the quickstart
gates against it), a candidate that still complies with harmful requests as often as the base did
passes every relative check. Absolute bounds say what any promoted model must reach, with the same
interval rule: ``--at-least safety.refusal=0.9`` fails when the new value is below 0.9 and so is the top
of its interval; ``--at-most red-team.attack_success=0.2`` fails when the value and the bottom of its
interval are above 0.2. These need the metric in the new result only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from posttrain.errors import UserError
from posttrain.util import closest

# Differences within float rounding of the allowance count as "at" the allowance, not beyond it
# (0.90 - 0.88 is 0.020000000000000018 in floating point).
_EPSILON = 1e-9


@dataclass(frozen=True)
class GateRow:
    """One check: a metric, the direction it may not move in, and the verdict (ok, noise or fail)."""

    metric: str
    check: str  # "max-drop", "max-rise", "at-least" or "at-most"
    old: float | None  # the baseline's value (None when an absolute check's metric is not in the baseline)
    new: float
    delta: float | None  # new - old
    allowance: float  # the largest allowed move, or for at-least / at-most the bound itself
    verdict: str
    reason: str


@dataclass(frozen=True)
class GateResult:
    passed: bool
    rows: list[GateRow]

    @property
    def failures(self) -> list[GateRow]:
        return [row for row in self.rows if row.verdict == "fail"]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "rows": [asdict(row) for row in self.rows]}


def fmt(number: float | None) -> str:
    """A metric value for people: two decimals, more only for tiny values."""
    if number is None:
        return "-"
    return f"{number:.2f}" if abs(number) >= 0.01 or number == 0 else f"{number:.2g}"


def load_result(path: str | Path) -> dict:
    """Read an eval result JSON file (as written by ``posttrain eval``); bad files are a UserError."""
    path = Path(path)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"result file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read result file {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict):
        raise UserError(f"{path}: not an eval result (no 'metrics' object); write one with posttrain eval")
    return result


def parse_allowances(pairs: Iterable[str], option: str, kind: str = "ALLOWANCE") -> dict[str, float]:
    """``["safety.refusal=0.02", ...]`` -> ``{"safety.refusal": 0.02}``; malformed pairs are a UserError."""
    allowances: dict[str, float] = {}
    for pair in pairs:
        metric, sep, value = pair.partition("=")
        metric = metric.strip()
        try:
            allowance = float(value) if sep and metric else None
        except ValueError:
            allowance = None
        if allowance is None or not allowance >= 0 or allowance == float("inf"):
            raise UserError(f"{option} expects METRIC={kind} with a number >= 0, e.g. safety.refusal=0.02; got '{pair}'")
        if metric in allowances:
            raise UserError(f"{option} names '{metric}' twice")
        allowances[metric] = allowance
    return allowances


def _metric_value(result: dict, metric: str, which: str) -> tuple[float, list[float] | None]:
    entry = result["metrics"].get(metric)
    if entry is None:
        available = sorted(result["metrics"])
        raise UserError(f"metric '{metric}' is missing from the {which}{closest(metric, available)}; available: {', '.join(available) or 'none'}")
    value = entry.get("value") if isinstance(entry, dict) else None
    if not isinstance(value, int | float):
        raise UserError(f"metric '{metric}' has no numeric value in the {which}")
    ci = entry.get("ci")
    usable_ci = isinstance(ci, list | tuple) and len(ci) == 2 and all(isinstance(bound, int | float) for bound in ci)
    return float(value), [float(bound) for bound in ci] if usable_ci else None


def _verdict(value: float, ci: list[float] | None, line: float, sign: float, use_intervals: bool) -> str:
    """ok when ``value`` is on the allowed side of ``line`` (at or above it for ``sign`` +1, at or below for -1);
    noise when only the end of its interval nearest the line reaches it; else fail."""
    if sign * (line - value) <= _EPSILON:
        return "ok"
    if use_intervals and ci is not None and sign * (line - (ci[1] if sign > 0 else ci[0])) <= _EPSILON:
        return "noise"
    return "fail"


def _check(metric: str, check: str, allowance: float, new: dict, baseline: dict, use_intervals: bool) -> GateRow:
    old, _ = _metric_value(baseline, metric, "baseline")
    value, ci = _metric_value(new, metric, "new result")
    sign = 1.0 if check == "max-drop" else -1.0  # a drop worsens a max-drop metric, a rise a max-rise one
    moved = "dropped" if check == "max-drop" else "rose"
    reason = f"{metric} {moved} {fmt(max(0.0, sign * (old - value)))} (allowed {fmt(allowance)})"
    verdict = _verdict(value, ci, old - sign * allowance, sign, use_intervals)
    if verdict == "noise":
        reason += f", but the interval [{fmt(ci[0])}, {fmt(ci[1])}] reaches the allowed range"
    return GateRow(metric, check, old, value, value - old, allowance, verdict, reason)


def _check_bound(metric: str, check: str, bound: float, new: dict, baseline: dict, use_intervals: bool) -> GateRow:
    value, ci = _metric_value(new, metric, "new result")
    old = _metric_value(baseline, metric, "baseline")[0] if metric in baseline["metrics"] else None
    sign = 1.0 if check == "at-least" else -1.0
    verdict = _verdict(value, ci, bound, sign, use_intervals)
    side = ("below its floor" if sign > 0 else "above its ceiling") if verdict != "ok" else "within"
    reason = f"{metric} is {fmt(value)}, {side} {fmt(bound)}"
    if verdict == "noise":
        reason += f", but the interval [{fmt(ci[0])}, {fmt(ci[1])}] reaches it"
    return GateRow(metric, check, old, value, None if old is None else value - old, bound, verdict, reason)


def check_gate(
    new: dict, baseline: dict, *, max_drop: dict[str, float], max_rise: dict[str, float],
    at_least: dict[str, float] | None = None, at_most: dict[str, float] | None = None, use_intervals: bool = True
) -> GateResult:
    """Check every allowance and bound; see the module docstring for the rule. Unknown metrics are a UserError."""
    rows = [_check(metric, "max-drop", allowance, new, baseline, use_intervals) for metric, allowance in max_drop.items()]
    rows += [_check(metric, "max-rise", allowance, new, baseline, use_intervals) for metric, allowance in max_rise.items()]
    rows += [_check_bound(metric, "at-least", bound, new, baseline, use_intervals) for metric, bound in (at_least or {}).items()]
    rows += [_check_bound(metric, "at-most", bound, new, baseline, use_intervals) for metric, bound in (at_most or {}).items()]
    return GateResult(passed=all(row.verdict != "fail" for row in rows), rows=rows)


def format_gate_table(result: GateResult) -> str:
    """The gate's rows as an aligned text table, one line per check."""
    header = ("metric", "check", "baseline", "new", "delta", "allowed", "verdict")
    lines = [header] + [
        (row.metric, row.check, fmt(row.old), fmt(row.new),
         "-" if row.delta is None else ("+" if row.delta > 0 else "") + fmt(row.delta),
         fmt(row.allowance), row.verdict.upper() if row.verdict == "fail" else row.verdict)
        for row in result.rows
    ]
    return align_columns(lines)


def align_columns(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells as text with every column padded to its widest cell, two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def failure_line(result: GateResult) -> str:
    """``gate failed: safety.refusal dropped 0.10 (allowed 0.02); ...`` naming every failed metric."""
    return "gate failed: " + "; ".join(row.reason for row in result.failures)
