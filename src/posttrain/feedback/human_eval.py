"""The human-evaluation report of a labeling campaign comparing two models: ``posttrain label report``.

From each reviewer's latest judgement of every item whose answers come from exactly the two models
(gold items are left out: their answers are seeded, not the models'):

- **win rate** of each model: ``(wins + ties / 2) / judgements``, with a 95% Wilson score interval
  ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``, z = 1.96. Each judgement counts once,
  so an item judged by three reviewers weighs three (their judgements are not independent: the
  interval is somewhat narrower than one over items would be);
- **mean ratings** per criterion (helpfulness, accuracy, safety, 1-5) of each model's answers, over
  the judgements that rated them, with the number of ratings;
- **ties** and **flags** (judgements marking the item harmful);
- **inter-reviewer agreement** on the preferred answer (a tie is its own category): Fleiss' kappa
  over complete items and Cohen's kappa per pair of reviewers, as ``label progress`` gives them.

Example::

    report = campaign_report(FeedbackStore(url), "c1")
    print(format_report(report))
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from posttrain.errors import UserError
from posttrain.feedback.records import FeedbackRecord

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
CRITERIA = ("helpfulness", "accuracy", "safety")


def wilson_interval(successes: float, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / trials`` (``(nan, nan)`` for no trials)."""
    if trials == 0:
        return math.nan, math.nan
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ModelResult:
    model: str
    wins: int = 0
    win_rate: float = math.nan
    interval: tuple[float, float] = (math.nan, math.nan)
    ratings: dict[str, float] = field(default_factory=dict)  # criterion -> mean rating
    rated: dict[str, int] = field(default_factory=dict)  # criterion -> number of ratings


@dataclass
class CampaignReport:
    campaign: str
    judgements: int
    items: int
    ties: int
    flagged: int
    models: list[ModelResult]
    fleiss: float | None
    fleiss_items: int
    cohen: list[tuple[str, str, int, float]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_models(records: list[FeedbackRecord], models: tuple[str, str] | None = None) -> tuple[list[ModelResult], dict]:
    """Win rates and mean ratings of two models from judgement records; also the counts used."""
    records = [record for record in records if record.kind == "judgement" and record.gold is None]
    if models is None:
        sources = Counter(answer.source for record in records for answer in record.answers)
        if len(sources) != 2:
            found = f"{len(sources)} source{'' if len(sources) == 1 else 's'} ({', '.join(sorted(sources)) or 'none'})"
            raise UserError(f"a report compares two models, and the campaign's answers come from {found}"
                            + ("; name the two to compare with --model A --model B" if len(sources) > 2 else ""))
        models = tuple(sorted(sources))  # type: ignore[assignment]
    first, second = models
    results = {first: ModelResult(first), second: ModelResult(second)}
    totals: dict[str, dict[str, list[int]]] = {name: defaultdict(list) for name in models}
    judged = ties = flagged = 0
    items: set[str] = set()
    for record in records:
        sources = [answer.source for answer in record.answers]
        if sorted(sources) != sorted(models):
            continue
        judged += 1
        items.add(record.item_id or record.id)
        flagged += int(record.harmful)
        if record.preferred is None:
            ties += 1
        else:
            results[sources[record.preferred]].wins += 1
        for position, given in enumerate(record.ratings or []):
            for criterion, value in given.items():
                totals[sources[position]][criterion].append(value)
    if judged == 0:
        raise UserError(f"no judgement compares {first} with {second}")
    for name, result in results.items():
        score = result.wins + ties / 2
        result.win_rate = score / judged
        result.interval = wilson_interval(score, judged)
        result.ratings = {criterion: sum(values) / len(values) for criterion in CRITERIA
                          if (values := totals[name].get(criterion))}
        result.rated = {criterion: len(totals[name][criterion]) for criterion in CRITERIA if totals[name].get(criterion)}
    return [results[first], results[second]], {"judgements": judged, "items": len(items), "ties": ties, "flagged": flagged}


def campaign_report(store, campaign: str, models: tuple[str, str] | None = None) -> CampaignReport:
    """The report of ``campaign`` in ``store`` (a :class:`~posttrain.feedback.store.FeedbackStore`)."""
    results, counts = compare_models(store.export_records(campaign=campaign), models)
    agreement = store.agreement(campaign)
    return CampaignReport(campaign=campaign, models=results, fleiss=agreement.fleiss,
                          fleiss_items=agreement.fleiss_items, cohen=agreement.cohen, **counts)


def format_report(report: CampaignReport) -> str:
    def count(number: int, noun: str) -> str:
        return f"{number} {noun}{'' if number == 1 else 's'}"

    lines = [f"campaign {report.campaign}: {count(report.judgements, 'judgement')} of {count(report.items, 'item')}, "
             f"{count(report.ties, 'tie')}, {report.flagged} flagged harmful"]
    header = ["model", "wins", "win rate", "95% CI", *CRITERIA]
    rows = [header]
    for result in report.models:
        rows.append([result.model, str(result.wins), f"{result.win_rate:.3f}",
                     f"[{result.interval[0]:.3f}, {result.interval[1]:.3f}]",
                     *(f"{result.ratings[c]:.2f} (n={result.rated[c]})" if c in result.ratings else "—"
                       for c in CRITERIA)])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.append("win rate: (wins + ties/2) / judgements; 95% Wilson interval over judgements")
    fleiss = "n/a" if report.fleiss is None or math.isnan(report.fleiss) else f"{report.fleiss:.3f}"
    lines.append(f"agreement: Fleiss' kappa {fleiss} over {report.fleiss_items} complete items")
    lines += [f"  Cohen's kappa {first}/{second}: {kappa:.3f} over {shared} shared items"
              for first, second, shared, kappa in report.cohen]
    return "\n".join(lines)
