"""Rewards by name, weighted sums of them, and batch scoring that records a broken reward's errors.

A reward function is a plain callable ``(prompt: str, completion: str, **row_fields) -> float``,
where ``row_fields`` are the other fields of the ``prompts`` row (``answer``, ``constraints``...);
a reward takes ``**_`` to ignore the fields it does not read. From a config::

    reward = combine({"math_correct": 1.0, "answer_tag": 0.2})
    reward = combine([
        "math_correct",                                                            # weight 1
        {"name": "length_penalty", "weight": 0.1, "kwargs": {"target_words": 50}},  # kwargs bound to each call
        {"name": "reward_model", "weight": 0.5, "kwargs": {"model_path": "runs/rm/final"}},  # kwargs build it
        {"name": "my_rewards:brevity"},   # module:function, or path/to/file.py:function
    ])
    scores, components, failures = score_rollouts(reward, prompts, completions, rows)

``components`` holds each reward's unweighted scores, for logging them separately. A reward that
raises (or returns something that is not a finite number) does not stop the run: the sample scores
0.0 and ``failures`` gets ``{"index", "reward", "prompt", "error": "TypeError: ..."}``, which the
caller must log. If every sample of a batch fails, ``score_rollouts`` raises UserError instead.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from posttrain.errors import UserError
from posttrain.imports import import_function
from posttrain.rewards.code import code_tests_passed
from posttrain.rewards.format import answer_tag, length_penalty
from posttrain.rewards.ifeval import instruction_following
from posttrain.rewards.math import math_correct
from posttrain.rewards.reward_model import reward_model_scorer
from posttrain.rewards.tools import tool_answer_correct
from posttrain.util import closest

RewardFn = Callable[..., float]

BUILTIN: dict[str, RewardFn] = {
    "math_correct": math_correct,
    "answer_tag": answer_tag,
    "instruction_following": instruction_following,
    "length_penalty": length_penalty,
    "tool_answer_correct": tool_answer_correct,
    "code_tests_passed": code_tests_passed,
}
# Rewards that must be built first: their config kwargs go to the factory, not to each call.
FACTORIES: dict[str, Callable[..., RewardFn]] = {"reward_model": reward_model_scorer}


def resolve_reward(spec: str) -> RewardFn:
    """A builtin reward by name, or ``module:function`` / ``path/to/file.py:function`` imported."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise UserError(f"unknown reward '{spec}'{closest(spec, [*BUILTIN, *FACTORIES])}: "
                        f"use one of {', '.join([*BUILTIN, *FACTORIES])} or module:function")
    return import_function(spec, f"reward '{spec}'")


@dataclass(frozen=True)
class WeightedReward:
    name: str
    fn: RewardFn
    weight: float = 1.0


class CombinedReward:
    """A weighted sum of rewards; ``components()`` gives each one's unweighted score."""

    def __init__(self, parts: list[WeightedReward]):
        self.parts = parts

    def components(self, prompt: str, completion: str, **row_fields: Any) -> dict[str, float]:
        return {part.name: float(part.fn(prompt, completion, **row_fields)) for part in self.parts}

    def __call__(self, prompt: str, completion: str, **row_fields: Any) -> float:
        scores = self.components(prompt, completion, **row_fields)
        return sum(part.weight * scores[part.name] for part in self.parts)

    def __repr__(self) -> str:
        return " + ".join(f"{part.weight:g} * {part.name}" for part in self.parts)


def parse_reward_spec(spec: str | dict[str, float] | list) -> dict[str, float] | list:
    """``"math_correct"`` or ``"math_correct=1,answer_tag=0.2"`` (or a mapping) -> {name: weight}; a list
    of names and ``{name, weight, kwargs}`` entries goes to :func:`combine` as it is."""
    if isinstance(spec, dict | list):
        return list(spec) if isinstance(spec, list) else dict(spec)
    weights = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.rpartition("=") if "=" in part else (part, "", "1")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            raise UserError(f"reward: weight of '{name}' must be a number, got '{weight}'") from None
    if not weights:
        raise UserError("reward: name at least one reward function")
    return weights


def combine(specs: str | dict | list) -> CombinedReward:
    """A :class:`CombinedReward` from a name or ``"a=1,b=0.2"`` (:func:`parse_reward_spec`),
    ``{name: weight}``, or a list of names and ``{"name", "weight"?, "kwargs"?}`` entries (a single
    such entry works too). Training and ``posttrain run --dry-run`` both resolve rewards here."""
    if isinstance(specs, str):
        specs = parse_reward_spec(specs)
    if isinstance(specs, dict):
        entries = [specs] if "name" in specs else [
            {"name": name, **value} if isinstance(value, dict) else {"name": name, "weight": value}
            for name, value in specs.items()
        ]
    elif isinstance(specs, list):
        entries = [{"name": entry} if isinstance(entry, str) else entry for entry in specs]
    else:
        raise UserError(f"reward must be a name, a {{name: weight}} mapping or a list, got {specs!r}")
    if not entries:
        raise UserError("no reward given")
    parts = [_weighted(entry) for entry in entries]
    names = [part.name for part in parts]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"reward '{repeated[0]}' is listed twice")
    return CombinedReward(parts)


def _weighted(entry: Any) -> WeightedReward:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise UserError(f"a reward entry is a name or {{'name', 'weight', 'kwargs'}}, got {entry!r}")
    name, weight, kwargs = entry["name"], entry.get("weight", 1.0), entry.get("kwargs", {})
    unknown = sorted(set(entry) - {"name", "weight", "kwargs"})
    if unknown:
        raise UserError(f"reward '{name}': unknown key '{unknown[0]}' (keys: name, weight, kwargs)")
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise UserError(f"reward '{name}': weight must be a number, got {weight!r}")
    if not isinstance(kwargs, dict):
        raise UserError(f"reward '{name}': kwargs must be a mapping, got {kwargs!r}")
    if name in FACTORIES:
        try:
            return WeightedReward(name, FACTORIES[name](**kwargs), float(weight))
        except TypeError as error:
            raise UserError(f"reward '{name}': bad kwargs: {error}") from None
    function = resolve_reward(name)
    _check_kwargs(name, function, kwargs)
    return WeightedReward(name, functools.partial(function, **kwargs) if kwargs else function, float(weight))


def _check_kwargs(name: str, function: RewardFn, kwargs: dict) -> None:
    """Refuse kwargs that are no named parameter: a reward's ``**_`` would swallow a typo silently."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no signature to check (some builtins)
        return
    named = [key for key, parameter in parameters.items() if parameter.kind not in (parameter.VAR_KEYWORD,
                                                                                      parameter.VAR_POSITIONAL)]
    for key in kwargs:
        if key not in named:
            raise UserError(f"reward '{name}': unknown kwarg '{key}'{closest(key, named)}")


def _reward_name(reward: RewardFn) -> str:
    function = getattr(reward, "func", reward)  # functools.partial
    return getattr(function, "__name__", type(function).__name__)


def _as_score(value: Any) -> float:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"reward returned {type(value).__name__} {str(value)[:40]!r}, not a number")
    if not math.isfinite(value):
        raise ValueError(f"reward returned {value}")
    return float(value)


def _batch_scorer(fn: RewardFn) -> tuple[Callable | None, dict]:
    """``fn``'s ``score_batch`` and the kwargs to pass it: a reward bound with kwargs (a partial, from a
    recipe's ``kwargs``) keeps its batch path when ``score_batch`` takes those kwargs too."""
    if hasattr(fn, "score_batch"):
        return fn.score_batch, {}
    if isinstance(fn, functools.partial) and not fn.args and hasattr(fn.func, "score_batch"):
        parameters = inspect.signature(fn.func.score_batch).parameters
        if all(key in parameters for key in fn.keywords):
            return fn.func.score_batch, dict(fn.keywords)
    return None, {}


def _score_part(part: WeightedReward, prompts: Sequence, completions: Sequence[str], fields: list[dict],
                failures: list[dict]) -> list[float]:
    """One reward's scores; a sample whose reward raised scores 0.0 and is appended to ``failures``."""
    batch, batch_error = None, None
    score_batch, bound = _batch_scorer(part.fn)
    if score_batch is not None:  # e.g. a reward model: one batched forward instead of one per sample
        try:
            takes_rows = "rows" in inspect.signature(score_batch).parameters  # code: each row's tests
            extra = {"rows": fields} if takes_rows else {}
            batch = list(score_batch(list(prompts), list(completions), **extra, **bound))
            if len(batch) != len(prompts):
                raise ValueError(f"score_batch returned {len(batch)} scores for {len(prompts)} samples")
        except Exception as error:  # noqa: BLE001  (a failed batch fails each of its samples, below)
            batch_error = error
    scores = []
    for index, (prompt, completion) in enumerate(zip(prompts, completions)):
        try:
            if batch_error is not None:
                raise batch_error
            scores.append(_as_score(batch[index] if batch is not None else part.fn(prompt, completion, **fields[index])))
        except Exception as error:  # noqa: BLE001  (recorded and returned: the caller logs it)
            failures.append({"index": index, "reward": part.name, "prompt": prompt,
                             "error": f"{type(error).__name__}: {error}"})
            scores.append(0.0)
    return scores


def score_rollouts(reward: RewardFn, prompts: Sequence, completions: Sequence[str], rows: Sequence[dict]
                   ) -> tuple[list[float], dict[str, list[float]], list[dict]]:
    """``(scores, components, failures)`` of a batch of samples; ``rows`` are their ``prompts`` rows.

    ``scores`` are the weighted totals; ``components`` maps each reward's name to its unweighted
    scores. A sample with any failure scores 0.0 in total; every failure is returned (log them).
    Raises UserError when every sample fails: a broken reward must stop the run loudly.
    """
    if not len(prompts) == len(completions) == len(rows):
        raise ValueError(f"{len(prompts)} prompts, {len(completions)} completions and {len(rows)} rows")
    parts = reward.parts if isinstance(reward, CombinedReward) else [WeightedReward(_reward_name(reward), reward)]
    # The row's own prompt/completion fields would clash with the positional arguments.
    fields = [{key: value for key, value in row.items() if key not in ("prompt", "completion")} for row in rows]
    failures: list[dict] = []
    components = {part.name: _score_part(part, prompts, completions, fields, failures) for part in parts}
    failures.sort(key=lambda failure: failure["index"])
    failed = {failure["index"] for failure in failures}
    if prompts and len(failed) == len(prompts):
        first = failures[0]
        raise UserError(f"reward '{first['reward']}' failed on all {len(prompts)} samples of the batch; "
                        f"first error: {first['error']} (prompt: {str(first['prompt'])[:200]!r})")
    scores = [0.0 if index in failed else sum(part.weight * components[part.name][index] for part in parts)
              for index in range(len(prompts))]
    return scores, components, failures
