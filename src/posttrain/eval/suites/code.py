"""The ``code`` suite: write a short Python function, or fix a broken one, judged by hidden tests.

Items ``{"id", "prompt", "entry_point", "tests": [{"call": "f(1)", "expected": "2"}, ...], "kind": "write" | "debug"}``;
a test may also be an assert statement, judged inside the tested process and so forgeable
(:mod:`posttrain.sandbox.checks`): the bundled items use call checks except where a call cannot
express the check (one item checks that its arguments are left unchanged).
The answer's code (:func:`posttrain.rewards.code.extract_code`, as the RL reward reads it) runs in
:mod:`posttrain.sandbox` with the item's tests, one process per answer, all in parallel (the 80 answers
take about 5 s on 2 cores; generating them at up to 256 new tokens takes far longer). An item scores
the share of its tests passed (metric ``tests_passed``); ``pass@1`` is the share of items whose every
test passes (answers are greedy, one per item). An answer ends at the first closing code fence
(:data:`STOP`, the stop string of the code recipe's RL rollouts): the prose a model writes after its code
cannot change the score, and generating it took half the tokens of the base model's answers. A bare
opening fence (three backticks alone on a line) also matches it and ends that answer before its code;
about 1% of the embedded model's answers open that way.

The ``code-sampled`` suite asks the same items but samples 8 answers per item at temperature 0.8
(seeded by the run's seed) and estimates pass@k without bias from the count of answers that pass
every test (Chen et al. 2021): an item's score is its pass@1 estimate ``c / n``, and the suite
reports pass@1, pass@2 and pass@8. Eight answers per item cost eight times the generation, but the
pass@1 estimate is far less noisy than one greedy answer per item, and it measures the sampling
policy that RL trains. :func:`pass_at_k` and :func:`pass_at_k_from_samples` are the estimator::

    pass_at_k(n=5, c=2, k=2)                                    # 0.7
    pass_at_k_from_samples([[True, False, False], [False, False, False]], k=2)   # (2/3 + 0) / 2
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean
from typing import TYPE_CHECKING, ClassVar

from posttrain.errors import DataError
from posttrain.eval.suite import (
    DATA_DIR,
    Generation,
    RunSettings,
    ScoredItem,
    Suite,
    register,
)
from posttrain.rewards.code import extract_code
from posttrain.sandbox.checks import BadTest, parse_test

if TYPE_CHECKING:
    from posttrain.sandbox import ExecutionResult

KINDS = ("write", "debug")
STOP = ("\n```\n",)  # the closing fence of a code block
MAX_REASON_CHARS = 300


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of ``k`` answers drawn without replacement from ``n``, ``c`` of them
    correct, is correct: ``1 - C(n - c, k) / C(n, k)``, unbiased for pass@k.

    Computed as ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)``, which equals the ratio of binomials
    and never forms the huge coefficients themselves.
    """
    if not (n >= 1 and 0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass_at_k needs n >= 1, 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:  # every draw of k answers includes a correct one
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_at_k_from_samples(results_per_item: Sequence[Sequence[bool]], k: int) -> float:
    """Mean :func:`pass_at_k` over items; each item lists whether each of its sampled answers passed every test."""
    if not results_per_item:
        raise ValueError("pass_at_k_from_samples needs at least one item")
    return fmean(pass_at_k(len(samples), sum(bool(passed) for passed in samples), k) for samples in results_per_item)


def describe(result: ExecutionResult) -> str:
    """One line on how an answer's code did: tests passed and the first failure, or why it did not run."""
    total = len(result.tests)
    if result.status == "error":
        reason = f"the code raised when loaded: {result.error}; 0/{total} tests passed"
    elif result.status != "ok" and result.passed == 0:
        reason = f"{result.status}: {result.error or 'no detail'}; 0/{total} tests passed"
    else:
        reason = f"{result.passed}/{total} tests passed"
        failed = next((test for test in result.tests if not test.passed), None)
        if failed is not None:
            reason += f"; first failure (test {failed.index + 1}): {failed.error}"
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


@register
class CodeSuite(Suite):
    name = "code"
    data_file = "code.jsonl"
    generation = Generation(max_new_tokens=256, stop=STOP)
    metrics: ClassVar[dict[str, bool | None]] = {"pass@1": True, "tests_passed": True}
    full_score_metrics: ClassVar[tuple[str, ...]] = ("pass@1",)  # items carry tests_passed; pass@1 is aggregated from it

    def items(self) -> list[dict]:
        items = super().items()
        for item in items:
            _check_item(item, str(DATA_DIR / self.data_file))
        return items

    def metric_of(self, item: dict) -> str:
        return "tests_passed"  # an item's score is its share of tests

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        return self.score_all([item], [answer], RunSettings())[0]

    def score_all(self, items: list[dict], answers: list[str], settings: RunSettings) -> list[tuple[float, str]]:
        """Run every answer's code at once (:func:`posttrain.sandbox.run_many`), then judge each."""
        from posttrain.sandbox import run_many

        codes = [extract_code(answer, item.get("entry_point")) for item, answer in zip(items, answers)]
        jobs = [(code, item["tests"]) for item, code in zip(items, codes) if code is not None]
        results = iter(run_many(jobs)) if jobs else iter(())
        scored = []
        for code in codes:
            if code is None:
                scored.append((0.0, "no code found in the answer"))
            else:
                result = next(results)
                scored.append((result.fraction, describe(result)))
        return scored


def _check_item(item: dict, path: str) -> None:
    """An item needs its tests (a non-empty list of statements), the function's name and a known kind."""
    where = f"item {item['id']}: "
    tests = item.get("tests")
    if not isinstance(tests, list) or not tests:
        raise DataError(where + "must be a non-empty list of call checks or Python statements", path=path, field="tests")
    for test in tests:
        try:
            parse_test(test)
        except BadTest as error:
            raise DataError(where + str(error), path=path, field="tests") from None
    if not isinstance(item.get("entry_point"), str) or not item["entry_point"].isidentifier():
        raise DataError(where + "must name the function to write (a Python identifier)", path=path,
                        field="entry_point")
    if item.get("kind", "write") not in KINDS:
        raise DataError(where + f"must be one of {', '.join(KINDS)}, got {item['kind']!r}", path=path, field="kind")


@register
class CodeSampledSuite(CodeSuite):
    """The code items with ``samples`` answers each at ``temperature``: unbiased pass@1, pass@2, pass@n."""

    name = "code-sampled"
    generation = Generation(max_new_tokens=256, samples=8, temperature=0.8, stop=STOP)
    ks = (1, 2, generation.samples)  # the pass@k reported
    metrics: ClassVar[dict[str, bool | None]] = {f"pass@{k}": True for k in ks}
    full_score_metrics: ClassVar[tuple[str, ...]] = ()  # items carry pass@1 (c / n); pass@2 and pass@n are not item means

    def metric_of(self, item: dict) -> str:
        return "pass@1"  # an item's score is its pass@1 estimate c / n

    def score_all(self, items: list[dict], answers: list, settings: RunSettings) -> list[tuple[float, str]]:
        """Every sample of every item through :meth:`CodeSuite.score_all` (one parallel sandbox pass)."""
        samples = [answer if isinstance(answer, list) else [answer] for answer in answers]
        flat_items = [item for item, texts in zip(items, samples) for _ in texts]
        flat = iter(super().score_all(flat_items, [text for texts in samples for text in texts], settings))
        scored = []
        for texts in samples:
            results = [next(flat) for _ in texts]
            passed = sum(score == 1.0 for score, _ in results)
            first_failure = next((reason for score, reason in results if score < 1.0), None)
            reason = f"{passed}/{len(texts)} samples pass every test"
            scored.append((passed / len(texts), reason + (f"; first failing sample: {first_failure}" if first_failure else "")))
        return scored

    def aggregates(self, scored: list[ScoredItem]) -> dict[str, float]:
        counts = [(len(item.samples or [item.answer]), round(item.score * len(item.samples or [item.answer])))
                  for item in scored]
        return {f"pass@{k}": fmean(pass_at_k(n, c, min(k, n)) for n, c in counts) for k in self.ks}

