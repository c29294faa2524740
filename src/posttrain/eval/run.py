"""Run suites on a model and build the result behind ``posttrain eval``.

    posttrain eval smollm2-135m --suite math safety --out result.json

:func:`evaluate` loads the model, answers every item of every suite greedily (batched across suites,
see :mod:`posttrain.eval.generation`), scores the answers and returns the result::

    {"model": "smollm2-135m", "created": "2025-01-01T12:00:00+00:00", "seed": 0, "package_version": "0.1.0",
     "metrics": {"math.accuracy": {"value": 0.4, "ci": [0.23, 0.57], "n": 30, "higher_is_better": true},
                 "style.median_words": {"value": 48.0, "ci": [40.0, 61.5], "n": 20, "higher_is_better": null}, ...},
     "items": [{"suite": "math", "id": "math-0001", "prompt": [...], "answer": "...", "score": 1.0,
                "reason": "...", "metric": "math.accuracy"}, ...]}

Metric names are ``suite.metric``. A metric's value is its suite's aggregate; its interval is a
seeded percentile bootstrap (1000 resamples, 95%) over the items carrying the metric, or over all
of the suite's items for statistics no single item carries (a median length, the share of prompts
with every constraint followed), or over the items a suite names (:meth:`Suite.population`: safety's
refusal rate of one category), and ``n`` counts those items. :func:`write_result` writes the
JSON atomically; :func:`format_table` gives the table the command prints.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from posttrain.errors import UserError
from posttrain.eval.stats import bootstrap_ci
from posttrain.eval.suite import (
    RunSettings,
    ScoredItem,
    Suite,
    SuiteOptions,
    make_suite,
)

RESAMPLES = 1000
LEVEL = 0.95


def build_suites(specs: list[str | Suite], options: SuiteOptions | None = None) -> list[Suite]:
    """Suites from names, user suite specs or ready objects; one-line errors for unknown or repeated ones."""
    if not specs:
        raise UserError("no suite given: name at least one with --suite")
    suites = [spec if isinstance(spec, Suite) else make_suite(spec, options) for spec in specs]
    names = [suite.name for suite in suites]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"suite '{repeated[0]}' is given twice")
    return suites


def evaluate(
    model_spec: str,
    suites: list[str | Suite],
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    judge: str | None = None,
    baseline: str | None = None,
    refusal_judge: str | None = None,
    judge_model: str | None = None,
    progress: bool = True,
    device: str = "auto",
    dtype: str = "auto",
    engine: str = "native",
) -> dict:
    """Evaluate the model ``model_spec`` (embedded name, HF directory, .gguf, hub id) on ``suites``,
    on the ``device`` option's device in the ``dtype`` option's precision.

    ``limit`` keeps the first N items of each suite (data files are ordered so any prefix mixes
    each suite's kinds of items). ``engine="vllm"`` generates the answers with vLLM
    (:mod:`posttrain.rollout.vllm_engine`). Returns the result dict described in the module docstring.
    """
    if engine not in ("native", "vllm"):
        raise UserError(f"unknown engine '{engine}': native or vllm")
    if engine == "vllm":
        from posttrain.rollout.vllm_engine import require_vllm

        require_vllm()  # before any slow loading
    built = build_suites(suites, SuiteOptions(judge=judge, baseline=baseline, refusal_judge=refusal_judge,
                                                judge_model=judge_model))
    items = {suite.name: suite.items()[:limit] for suite in built}  # read before loading: bad data fails fast
    from posttrain.models.loading import load_tokenizer
    from posttrain.training.precision import load_for_inference

    if engine == "vllm":  # vLLM loads its own copy of the weights; nothing else is loaded here
        from posttrain.rollout.vllm_engine import engine_for_spec, vllm_dtype

        tokenizer = load_tokenizer(model_spec)
        return evaluate_model(None, tokenizer, built, model_name=model_spec, items=items, seed=seed,
                              batch_size=batch_size, progress=progress,
                              engine=engine_for_spec(model_spec, tokenizer, dtype=vllm_dtype(dtype)))

    tokenizer, model = load_tokenizer(model_spec), load_for_inference(model_spec, device, dtype)
    return evaluate_model(model, tokenizer, built, model_name=model_spec, items=items, seed=seed,
                          batch_size=batch_size, progress=progress)


def evaluate_model(
    model,
    tokenizer,
    suites: list[Suite],
    *,
    model_name: str,
    items: dict[str, list[dict]] | None = None,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
    engine=None,
) -> dict:
    """Like :func:`evaluate` for a model already in memory (a trainer evaluating every N steps);
    ``engine`` (a ``RolloutEngine``, e.g. vLLM's) generates the answers instead of ``model``."""
    from tqdm import tqdm

    import posttrain
    from posttrain.eval.generation import answer_requests, requests_for

    items = items or {suite.name: suite.items()[:limit] for suite in suites}
    settings = RunSettings(seed=seed, batch_size=batch_size, progress=progress)
    requests = [request for suite in suites for request in requests_for(suite, items[suite.name])]
    with tqdm(total=len(requests), desc="generating", unit="answer", disable=not progress) as bar:
        answers = answer_requests(model, tokenizer, requests, seed=seed, batch_size=batch_size,
                                  on_answered=bar.update, engine=engine)
    metrics, traces = {}, []
    start = 0
    for suite in suites:
        suite_items = items[suite.name]
        suite_answers = answers[start : start + len(suite_items)]
        start += len(suite_items)
        scored = score_suite(suite, suite_items, suite_answers, settings)
        metrics.update(suite_metrics(suite, scored, seed))
        traces += [item.to_json() for item in scored]
    return {
        "model": model_name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "package_version": posttrain.__version__,
        "metrics": metrics,
        "items": traces,
    }


def score_suite(suite: Suite, items: list[dict], answers: list[str], settings: RunSettings) -> list[ScoredItem]:
    results = suite.score_all(items, answers, settings)
    return [
        ScoredItem(suite=suite.name, id=str(item["id"]), prompt=suite.messages(item),
                   answer=answer[0] if isinstance(answer, list) else answer, score=float(score), reason=reason,
                   metric=f"{suite.name}.{suite.metric_of(item)}", item=item,
                   samples=answer if isinstance(answer, list) else None)
        for item, answer, (score, reason) in zip(items, answers, results)
    ]


def suite_metrics(suite: Suite, scored: list[ScoredItem], seed: int = 0) -> dict[str, dict]:
    """Each aggregate of a suite with its bootstrap interval, ``n`` and direction, keyed ``suite.metric``."""
    values, declared = suite.aggregates(scored), list(suite.metrics)
    metrics = {}
    # In the order the suite declares its metrics, whatever order the items came in.
    for metric in sorted(values, key=lambda m: declared.index(m) if m in declared else len(declared)):
        value, name = values[metric], f"{suite.name}.{metric}"
        population = suite.population(metric, scored)
        low, high = bootstrap_ci(population, lambda sample, metric=metric: suite.aggregates(sample)[metric],
                                 resamples=RESAMPLES, level=LEVEL, seed=metric_seed(seed, name))
        metrics[name] = {"value": value, "ci": [low, high], "n": len(population),
                         "higher_is_better": suite.metrics.get(metric, True)}
    return metrics


def metric_seed(seed: int, metric: str) -> int:
    """A bootstrap seed per metric, so adding a suite to a run leaves the other intervals unchanged."""
    return zlib.crc32(f"{seed}:{metric}".encode())


def write_result(result: dict, path: str) -> None:
    import json

    from posttrain.util import write_text_atomic

    write_text_atomic(path, json.dumps(result, indent=1, ensure_ascii=False) + "\n")


def format_table(result: dict) -> str:
    """The metrics as an aligned text table: suite, metric, value, 95% interval, n."""
    rows = [("suite", "metric", "value", "95% CI", "n")]
    for name, metric in result["metrics"].items():
        suite, _, short = name.partition(".")
        rate = metric["higher_is_better"] is not None  # rates print as 0.400; statistics as 48, 15.2 or 1.25
        number = "{:.3f}" if rate else "{:.4g}"
        arrow = {True: " ↑", False: " ↓", None: ""}[metric["higher_is_better"]]
        interval = "[" + ", ".join(number.format(bound) for bound in metric["ci"]) + "]"
        rows.append((suite, short + arrow, number.format(metric["value"]), interval, str(metric["n"])))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    aligned = [
        "  ".join(cell.ljust(width) if column < 2 else cell.rjust(width)
                  for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    return "\n".join(aligned[:1] + ["-" * len(aligned[0])] + aligned[1:])
