"""One round of continuous post-training from collected feedback: ``posttrain loop LOOP.yaml``.

A round:

1. reads the feedback records created since the last completed round — from the feedback store
   (a database URL) or a JSONL file in the store's export format (:mod:`posttrain.feedback.records`);
2. turns them into preference, SFT (written better answers) and unpaired rows by the rules of
   :func:`~posttrain.feedback.records.to_training_rows`, saved in the round's ``data/`` directory;
3. when there are at least ``min_pairs`` preference pairs (or unpaired rows, for a KTO ``train``),
   runs a recipe: evaluate the promoted model → SFT on written answers (when there are
   ``min_sft`` of them) → the ``train`` stage (DPO by default) → evaluate the candidate →
   gate against the promoted model → export;
4. promotes the exported candidate only if the gate passed; otherwise the promoted model stays.

Before step 2 the records pass the defences of :mod:`posttrain.feedback.defences` (reviewer
quality from gold items and peer agreement, gold items kept out of training, served feedback
deduplicated and capped per API key, conflicting judgements resolved by weighted majority); the
round's record counts every exclusion by reason (``defences``) and ``data/excluded.jsonl`` lists
each excluded record's id and reason.

Only one round runs per ``output_dir`` at a time: a second ``posttrain loop`` on the same directory
refuses at once with a one-line error (an advisory lock on ``loop.lock``, released when the
process ends, however it ends).

Every round is appended to ``rounds.jsonl``; ``state.json`` holds the promoted model and the
feedback cutoff, both rewritten atomically, so a failed or crashed round never changes what is
promoted. A crashed round resumes when the command is run again (its recipe run resumes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from posttrain.config import BaseConfig
from posttrain.errors import UserError
from posttrain.feedback.defences import DefenceConfig, apply_defences, resolve_conflicts
from posttrain.feedback.records import FeedbackRecord, read_records, to_training_rows
from posttrain.util import format_validation_error, read_yaml, write_text_atomic


class LoopConfig(BaseConfig):
    name: str = Field("loop", description="Name of the loop, in model cards and reports.")
    output_dir: str = Field("runs/loop", description="Rounds, state.json (promoted model, cutoff) and rounds.jsonl.")
    feedback: str = Field(description="Feedback source: a records JSONL file, or the feedback store's database URL.")
    model: str = Field("smollm2-135m", description="The promoted model before the first promotion.")
    train: dict[str, Any] = Field(default_factory=lambda: {"stage": "dpo"},
                                  description="The retraining stage: 'stage' (dpo, or kto via loss) plus its config keys.")
    sft: dict[str, Any] | None = Field(default_factory=dict,
                                       description="SFT stage config for written better answers (null: never).")
    eval: dict[str, Any] = Field(default_factory=lambda: {"suites": ["math", "safety", "style"]},
                                 description="Eval stage config used for both the promoted model and the candidate.")
    gate: dict[str, Any] = Field(description="Gate config: max_drop / max_rise per metric against the promoted model.")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Keys merged into every stage that has them.")
    min_pairs: int = Field(8, gt=0, description="Fewest preference pairs (or unpaired rows for kto) worth a round.")
    min_sft: int = Field(4, gt=0, description="Fewest written answers worth an SFT stage.")
    defences: DefenceConfig = Field(default_factory=DefenceConfig,
                                    description="Reviewer quality, deduplication, per-client cap (see feedback.defences).")


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def load_loop_config(path: str) -> LoopConfig:
    raw = read_yaml(path, "loop config")[0] or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a loop config is a mapping")
    try:
        return LoopConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(LoopConfig, error, path)) from None


def read_feedback(source: str, since: str | None) -> list[FeedbackRecord]:
    """Records created after ``since`` (ISO time; None: all) from a JSONL file or the feedback store."""
    if "://" in source:
        from posttrain.feedback.store import FeedbackStore

        return FeedbackStore(source).export_records(since=since)
    if not Path(source).is_file():
        raise UserError(f"feedback file not found: {source}")
    records = read_records(source)
    undated = [record.id for record in records if not record.created]
    if undated:
        raise UserError(f"{source}: record '{undated[0]}' has no 'created' time, so rounds cannot tell old from new")
    return [record for record in records if since is None or _time(record.created) > _time(since)]


def _by_kind(records: list[FeedbackRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.kind] = counts.get(record.kind, 0) + 1
    return counts


def _time(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write_jsonl(path: Path, rows: list[dict]) -> str:
    # Rows made from users' feedback (their prompts and the answers they judged): the owner's only.
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), private=True)
    return str(path)


def round_recipe(config: LoopConfig, promoted: str, round_dir: Path, data: dict[str, str | None]) -> dict:
    """The recipe of one round as a plain mapping (also saved as the round's recipe.yaml)."""
    train = dict(config.train)
    kind = train.pop("stage", "dpo")
    unpaired = train.get("loss") == "kto"
    train.setdefault("data", data["unpaired" if unpaired else "preference"])
    if unpaired:
        train.setdefault("format", "unpaired")
    evaluation = {key: value for key, value in config.eval.items() if key not in ("model", "compare_to")}
    stages: list[dict] = [{"stage": "eval", "name": "promoted", "model": "base", **evaluation}]
    if config.sft is not None and data["sft"]:
        stages.append({"stage": "sft", "name": "sft", "data": data["sft"], **config.sft})
    stages += [
        {"stage": kind, "name": "train", **train},
        {"stage": "eval", "name": "candidate", **evaluation, "compare_to": "promoted"},
        {"stage": "gate", "name": "gate", "new": "candidate", "baseline": "promoted", **config.gate, "on_fail": "continue"},
        {"stage": "export", "name": "export"},
    ]
    return {"name": f"{config.name} {round_dir.name}", "model": promoted, "output_dir": str(round_dir),
            "defaults": config.defaults, "stages": stages}


def _load_state(out: Path, config: LoopConfig) -> dict:
    path = out / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    state.setdefault("promoted", config.model)
    state.setdefault("cutoff", None)
    state.setdefault("rounds", 0)
    return state


def _append_round(out: Path, record: dict) -> None:
    path = out / "rounds.jsonl"
    previous = path.read_text() if path.exists() else ""
    write_text_atomic(path, previous + json.dumps(record) + "\n")


def _finished_round(out: Path, number: int) -> dict | None:
    path = out / "rounds.jsonl"
    if not path.exists():
        return None
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    last = lines[-1] if lines else None
    return last if last and last["round"] == number and last["status"] in ("promoted", "rejected") else None


@contextlib.contextmanager
def loop_lock(out: Path) -> Iterator[None]:
    """Hold ``out/loop.lock`` for a round, or raise a one-line UserError when another process holds it."""
    descriptor = os.open(out / "loop.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another `posttrain loop` is running a round in {out} (it holds {out / 'loop.lock'}); "
                            "wait for it to finish") from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock; so does the process ending, even by SIGKILL


def run_round(config: LoopConfig, *, echo=print) -> dict:
    """Run one round (see the module docstring); returns the round's record."""
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with loop_lock(out):
        return _run_round(config, out, echo)


def _run_round(config: LoopConfig, out: Path, echo) -> dict:
    from posttrain.pipeline.recipe import load_recipe
    from posttrain.pipeline.runner import run_recipe

    state = _load_state(out, config)
    number = state.get("in_progress") or state["rounds"] + 1
    finished = _finished_round(out, number)
    if finished is not None:  # crashed after recording the round, before moving the state
        state.update(rounds=number, cutoff=finished["cutoff"], in_progress=None,
                     promoted=finished["candidate"] if finished["status"] == "promoted" else state["promoted"])
        write_text_atomic(out / "state.json", json.dumps(state, indent=1))
        return finished
    round_dir = out / f"round-{number:03d}"
    records = read_feedback(config.feedback, state["cutoff"])
    # Reviewer quality is estimated over every judgement so far, not only this round's.
    history = read_feedback(config.feedback, None) if state["cutoff"] is not None else None
    kept, defence = apply_defences(records, config.defences, history=history)
    rows, defence = resolve_conflicts(to_training_rows(kept), defence, kept)
    if defence.excluded_ids:
        _write_jsonl(round_dir / "data" / "excluded.jsonl", defence.excluded_ids)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    base_record = {"round": number, "started": started, "promoted_before": state["promoted"],
                   "feedback_records": len(records), "preference_rows": len(rows.preference),
                   "sft_rows": len(rows.sft), "unpaired_rows": len(rows.unpaired),
                   "feedback_by_kind": _by_kind(records), "defences": defence.as_record()}
    echo(f"round {number}: {_count(len(records), 'new feedback record')} -> "
         f"{_count(len(rows.preference), 'preference pair')}, {_count(len(rows.sft), 'written answer')}, "
         f"{_count(len(rows.unpaired), 'thumb')}")
    excluded = {**defence.excluded, **defence.rows_excluded}
    if excluded:
        echo(f"round {number}: excluded by the defences: "
             + ", ".join(f"{count} {reason}" for reason, count in sorted(excluded.items())))
    wanted = len(rows.unpaired) if config.train.get("loss") == "kto" else len(rows.preference)
    if wanted < config.min_pairs:
        record = {**base_record, "status": "skipped",
                  "reason": f"{wanted} training rows is fewer than min_pairs={config.min_pairs}; the feedback is kept for the next round"}
        _append_round(out, record)
        echo(f"round {number} skipped: {record['reason']}")
        return record
    data = {"preference": _write_jsonl(round_dir / "data" / "preference.jsonl", rows.preference) if rows.preference else None,
            "sft": _write_jsonl(round_dir / "data" / "sft.jsonl", rows.sft) if len(rows.sft) >= config.min_sft else None,
            "unpaired": _write_jsonl(round_dir / "data" / "unpaired.jsonl", rows.unpaired) if rows.unpaired else None}
    newest = max((record.created for record in records if record.created), key=_time, default=state["cutoff"])
    state["in_progress"] = number
    write_text_atomic(out / "state.json", json.dumps(state, indent=1))
    recipe_path = round_dir / "recipe.yaml"
    write_text_atomic(recipe_path, yaml.safe_dump(round_recipe(config, state["promoted"], round_dir, data), sort_keys=False))
    result = run_recipe(load_recipe(str(recipe_path)), echo=echo)
    passed = bool(result.gate_passed)
    candidate = str(round_dir / "export" / "model")
    record = {**base_record, "status": "promoted" if passed else "rejected", "candidate": candidate, "cutoff": newest,
              "gate": json.loads((round_dir / "gate" / "gate.json").read_text()),
              "metrics": result.manifest["stages"]["candidate"].get("metrics", {}),
              "promoted_metrics": result.manifest["stages"]["promoted"].get("metrics", {}),
              "report": result.report, "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    # The round's record lands before the state moves: a crash in between re-runs the (finished,
    # hence skipped) recipe and writes the state, rather than promoting without a record.
    _append_round(out, record)
    state.update(rounds=number, cutoff=newest, in_progress=None, promoted=candidate if passed else state["promoted"])
    write_text_atomic(out / "state.json", json.dumps(state, indent=1))
    echo(f"round {number}: gate {'passed, promoted ' + candidate if passed else 'failed, kept ' + state['promoted']}")
    if result.table:
        echo(result.table)
    return record
