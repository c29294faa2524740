"""What an evaluation suite is, the registry of built-in suites, and user suites from a JSONL file.

A suite owns its data (a JSONL file of items), its generation settings and its scoring:

- :meth:`Suite.items` loads the items; each is a dict with an ``id`` and either ``messages`` (a chat
  ending with a user turn) or ``prompt`` (one user message). An item may carry its own ``tools``
  (JSON schemas for the chat template) and ``max_new_tokens``.
- :meth:`Suite.score` judges one answer: ``(score, reason)``, the reason one short line a person reads.
- :meth:`Suite.metric_of` says which metric an item's score counts towards (safety: ``refusal`` for
  harmful requests, ``over_refusal`` for benign ones).
- :meth:`Suite.population` says which items a metric's interval resamples (by default those carrying it).
- :meth:`Suite.aggregates` turns scored items into ``{metric: value}``; by default the mean score of
  the items carrying each metric, plus each of ``full_score_metrics``, the share of items scoring 1.0
  (code's ``pass@1``). ``metrics`` declares each metric and whether higher is better (``None``:
  neither, e.g. a length statistic). Both kinds of default metric are means over items, so the
  compare report can give a paired interval of their change (:func:`posttrain.eval.report.delta_cis`).

A user suite is ``path/to/file.jsonl:module:function``: rows with ``messages`` or ``prompt`` and
a scorer ``function(item: dict, answer: str) -> float | (float, str)`` importable from ``module``
(the current directory is searched too). Its one metric is ``<file stem>.score``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, ClassVar

from posttrain.data.conversation import validate_messages
from posttrain.data.readers import read_rows
from posttrain.errors import DataError, UserError
from posttrain.imports import import_function
from posttrain.util import closest

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Generation:
    """How a suite's answers are generated: greedy by default; ``samples`` > 1 draws that many answers
    per item at ``temperature`` (seeded by the run's seed, so a run is still reproducible). An answer
    ends at the first of ``stop`` it writes (kept in the answer): what follows cannot change its score."""

    max_new_tokens: int
    tools: list[dict] | None = None  # tool schemas for every item; an item's own "tools" field wins
    samples: int = 1
    temperature: float = 0.0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteOptions:
    """Run-wide settings some suites need: a judge (reward model) and a baseline model."""

    judge: str | None = None
    baseline: str | None = None
    refusal_judge: str | None = None  # a chat model judging refusals in the safety suite (default: patterns)
    judge_model: str | None = None  # a chat model judging helpfulness pairwise, both orders (instead of ``judge``)


@dataclass(frozen=True)
class RunSettings:
    """How the current run generates, for suites that generate more themselves (helpfulness's baseline)."""

    seed: int = 0
    batch_size: int = 16
    progress: bool = False


@dataclass
class ScoredItem:
    """One item's eval trace: what the model saw, what it said, and how that was judged."""

    suite: str
    id: str
    prompt: list[dict]
    answer: str
    score: float
    reason: str
    metric: str  # full metric name, "suite.metric"
    item: dict = field(default_factory=dict, repr=False)  # the suite's item, for aggregates that need its fields
    samples: list[str] | None = None  # every sampled answer when the suite samples several (``answer`` is the first)

    def to_json(self) -> dict[str, Any]:
        trace = {"suite": self.suite, "id": self.id, "prompt": self.prompt, "answer": self.answer,
                 "score": self.score, "reason": self.reason, "metric": self.metric}
        return trace | ({"samples": self.samples} if self.samples is not None else {})


class Suite:
    """Base class of a suite; subclasses set the class attributes and implement :meth:`score`."""

    name: ClassVar[str] = ""
    data_file: ClassVar[str] = ""  # a JSONL file in DATA_DIR
    generation: ClassVar[Generation] = Generation(max_new_tokens=128)
    metrics: ClassVar[dict[str, bool | None]] = {"score": True}  # metric -> higher is better
    full_score_metrics: ClassVar[tuple[str, ...]] = ()  # metrics that are the share of items scoring 1.0

    def __init__(self, options: SuiteOptions | None = None) -> None:
        self.options = options or SuiteOptions()

    def items(self) -> list[dict]:
        return load_items(DATA_DIR / self.data_file, self.name)

    def messages(self, item: dict) -> list[dict]:
        return item["messages"] if "messages" in item else [{"role": "user", "content": item["prompt"]}]

    def tools(self, item: dict) -> list[dict] | None:
        return item.get("tools", self.generation.tools)

    def max_new_tokens(self, item: dict) -> int:
        return int(item.get("max_new_tokens", self.generation.max_new_tokens))

    def metric_of(self, item: dict) -> str:
        return next(iter(self.metrics))

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        raise NotImplementedError

    def score_all(self, items: list[dict], answers: list, settings: RunSettings) -> list[tuple[float, str]]:
        """Score every answer (a list of answers per item when ``generation.samples`` > 1); suites that
        judge answers in batches (with a model) override this."""
        return [self.score(item, answer) for item, answer in zip(items, answers)]

    def population(self, metric: str, scored: list[ScoredItem]) -> list[ScoredItem]:
        """The items a metric's interval resamples: those carrying it, else every item (a statistic no
        single item carries). Suites with breakdown metrics (safety's refusal per category) override this."""
        return [item for item in scored if item.metric == f"{self.name}.{metric}"] or scored

    def aggregates(self, scored: list[ScoredItem]) -> dict[str, float]:
        """Mean score per metric over the items carrying it (only metrics with items appear), and each
        of ``full_score_metrics`` over every item."""
        by_metric: dict[str, list[float]] = {}
        for item in scored:
            by_metric.setdefault(item.metric.removeprefix(f"{self.name}."), []).append(item.score)
        means = {metric: fmean(scores) for metric, scores in by_metric.items()}
        return means | {metric: fmean(item.score == 1.0 for item in scored) for metric in self.full_score_metrics}


SUITES: dict[str, type[Suite]] = {}


def register(cls: type[Suite]) -> type[Suite]:
    """Class decorator adding a built-in suite to :data:`SUITES` under its ``name``."""
    SUITES[cls.name] = cls
    return cls


def suite_names() -> list[str]:
    import posttrain.eval.suites  # noqa: F401  (importing the package registers every built-in suite)

    return list(SUITES)


def make_suite(spec: str, options: SuiteOptions | None = None) -> Suite:
    """A suite from its name or a user suite spec ``file.jsonl:module:function``."""
    if ".jsonl:" in spec:
        path, module, function = _split_user_spec(spec)
        return UserSuite(path, load_scorer(module, function, spec))
    names = suite_names()
    if spec not in SUITES:
        raise UserError(f"unknown suite '{spec}'{closest(spec, names)}; suites: {', '.join(names)} "
                        "or FILE.jsonl:MODULE:FUNCTION")
    return SUITES[spec](options)


def _split_user_spec(spec: str) -> tuple[str, str, str]:
    path, _, scorer = spec.rpartition(".jsonl:")
    module, _, function = scorer.partition(":")
    if not module or not function or ":" in function:
        raise UserError(f"user suite '{spec}': expected FILE.jsonl:MODULE:FUNCTION, e.g. my_eval.jsonl:my_scorers:score")
    return path + ".jsonl", module, function


def load_scorer(module: str, function: str, spec: str) -> Callable:
    """Import ``module.function``; the current directory is searched like ``python -m`` does."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return import_function(f"{module}:{function}", f"user suite '{spec}'")


def load_items(path: str | Path, suite_name: str) -> list[dict]:
    """Read a suite's JSONL rows, check each has a conversation to answer, and give each an ``id``."""
    path = str(path)
    if not os.path.isfile(path):
        raise UserError(f"suite '{suite_name}': data file not found: {path}")
    items = []
    for line, row in read_rows(path):
        _check_conversation(row, path, line)
        row.setdefault("id", f"{suite_name}-{line:04d}")
        items.append(row)
    if not items:
        raise UserError(f"suite '{suite_name}': {path} has no rows")
    return items


def _check_conversation(row: dict, path: str, line: int) -> None:
    if "messages" in row:
        try:
            messages = validate_messages(row["messages"], need_assistant=False)
        except DataError as error:
            raise DataError(error.reason, path=path, line=line, field=error.field) from None
        if messages[-1]["role"] not in ("user", "tool"):
            raise DataError("the last message must be the user's (the model answers it)", path=path, line=line,
                            field="messages")
    elif not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        raise DataError("each row needs 'messages' (a chat ending with a user turn) or a non-empty 'prompt'",
                        path=path, line=line)


class UserSuite(Suite):
    """A suite from the user's JSONL file, scored by the user's function."""

    metrics: ClassVar[dict[str, bool | None]] = {"score": True}

    def __init__(self, path: str, scorer: Callable) -> None:
        super().__init__()
        self.path, self.scorer = path, scorer
        self.name = Path(path).stem  # an instance attribute: each user suite is named by its file

    def items(self) -> list[dict]:
        return load_items(self.path, self.name)

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        result = self.scorer(item, answer)
        score, reason = result if isinstance(result, tuple) and len(result) == 2 else (result, "")
        if not isinstance(score, int | float):  # bools count too: True is 1.0
            raise UserError(f"user suite '{self.name}': the scorer must return a number or (number, reason), "
                            f"got {result!r} for item {item['id']}")
        return float(score), str(reason)
