"""Run a recipe: plan every stage up front, then run them in order with a manifest that makes it resumable.

    posttrain run recipes/quickstart.yaml            # run (or resume) the whole pipeline
    posttrain run recipes/quickstart.yaml --dry-run  # validate data, models, rewards, suites, keys

The run directory holds ``manifest.json``: the recipe text and hash, the hash of every input data
file, package versions, and per stage its resolved config, status, timings, outputs and metrics.
It is rewritten atomically after every change. Running the same recipe again skips the stages
marked ``done`` whose outputs still exist, and re-enters an interrupted stage; training stages then
resume from their newest checkpoint (their ``resume`` key is on by default). A stage whose resolved
config changed since it ran is an error, so a run directory never mixes two recipes.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from posttrain.errors import UserError
from posttrain.eval.report import before_after_table  # noqa: F401  (re-exported: the before/after table of a run)
from posttrain.pipeline.recipe import (
    REFERENCE_FIELDS,
    STAGE_CONFIGS,
    GateFailed,
    PlannedStage,
    Recipe,
    stage_config,
)
from posttrain.pipeline.stages import EXECUTORS, last_report
from posttrain.registry import POLICY_TRAINING, TRAINING
from posttrain.training.memory import peak_rss_gb
from posttrain.util import closest, write_text_atomic


def stage_output(kind: str, directory: Path) -> str:
    """The path later stages receive for a stage: a model directory, a data file or an eval result."""
    if kind in TRAINING:
        return str(directory / "final")
    return str(directory / {"rejection-sample": "sft.jsonl", "eval": "result.json", "gate": "gate.json",
                            "export": "model"}[kind])


def plan(recipe: Recipe) -> list[PlannedStage]:
    """Resolve defaults, references and outputs of every stage and validate its config."""
    run_dir = Path(recipe.output_dir)
    source = recipe.source or "recipe"
    planned: list[PlannedStage] = []
    by_name: dict[str, PlannedStage] = {}
    current = recipe.model
    for spec in recipe.stages:
        kind = spec.stage
        cls = STAGE_CONFIGS[kind]
        values = {key: value for key, value in recipe.defaults.items() if key in cls.model_fields}
        values.update(spec.options)
        references = {}
        for key in REFERENCE_FIELDS:
            value = values.get(key)
            if not isinstance(value, str):
                continue
            if value == "base":
                values[key] = recipe.model
            elif value in by_name:
                values[key] = _reference(by_name[value], key, kind, spec.name, source)
                references[key] = value
        if "model" in cls.model_fields and values.get("model") is None:
            values["model"] = current
        directory = run_dir / spec.name
        if kind in TRAINING:
            values["output_dir"] = str(directory)
            if values.get("finetune", "lora") == "lora":
                values.setdefault("save_format", "both")  # the merged model feeds the next stage; export ships the adapter
        elif kind == "rejection-sample":
            values["output"] = str(directory / "sft.jsonl")
        config = stage_config(kind, spec.name, values, source)
        stage = PlannedStage(kind, spec.name, config, directory, stage_output(kind, directory), references)
        planned.append(stage)
        by_name[spec.name] = stage
        if kind in POLICY_TRAINING:
            current = stage.output
    return planned


_ACCEPTS = {  # which kinds of stage a reference field may name
    "model": POLICY_TRAINING | {"export"}, "baseline": POLICY_TRAINING | {"export"},
    "refusal_judge": POLICY_TRAINING | {"export"}, "judge_model": POLICY_TRAINING | {"export"},
    "reward_model": {"rm"}, "judge": {"rm"}, "data": {"rejection-sample"}, "eval_data": {"rejection-sample"},
    "new": {"eval"}, "compare_to": {"eval"},
}


def _reference(target: PlannedStage, key: str, kind: str, name: str, source: str) -> str:
    accepted = _ACCEPTS[key]
    if kind == "gate" and key == "baseline":
        accepted = {"eval"}
    if target.kind not in accepted:
        raise UserError(f"{source}: stage '{name}': {key}: '{target.name}' is a {target.kind} stage, "
                        f"which has no output usable here (expects a {' or '.join(sorted(accepted))} stage)")
    return target.output


# ---------------------------------------------------------------------------------------------
# Dry run: everything that can be checked without spending compute


def check(recipe: Recipe, planned: list[PlannedStage]) -> list[str]:
    """Validate data files, models, rewards, suites and gate inputs; returns one line per check made."""
    from posttrain.data.formats import load_examples
    from posttrain.data.readers import resolve_data_path

    produced = {stage.output for stage in planned}
    lines = [f"recipe {recipe.source}: {len(planned)} stages, run directory {recipe.output_dir}"]
    for stage in planned:
        config = stage.config
        for key in ("data", "eval_data"):
            value = getattr(config, key, None)
            if not value or value in produced:
                continue
            path = resolve_data_path(value)
            fmt = getattr(config, "format", "prompts")
            loaded = load_examples(path, fmt, limit=None)
            lines.append(f"  {stage.name}: {key} {value}: {len(loaded.examples)} rows readable as {loaded.format or fmt}")
        for key in ("model", "reward_model", "judge", "baseline", "refusal_judge", "judge_model"):
            value = getattr(config, key, None)
            if value and value not in produced and stage.kind != "gate":
                lines.append(f"  {stage.name}: {key} {value}: {_check_model(value)}")
        reward = getattr(config, "reward", None)
        if reward:
            from posttrain.rewards.registry import combine

            combine(reward)
            lines.append(f"  {stage.name}: reward {reward}: resolves")
        if stage.kind == "eval":
            suites = _suites(config)
            lines.append(f"  {stage.name}: suites {', '.join(suite.name for suite in suites)}: "
                         f"{sum(len(suite.items()[: config.limit]) for suite in suites)} items")
        if stage.kind == "gate":
            for key in ("new", "baseline"):
                value = getattr(config, key)
                if value not in produced and not Path(value).is_file():
                    raise UserError(f"stage '{stage.name}': {key}: '{value}' is neither an eval stage nor a result file")
                evaluator = next((p for p in planned if p.output == value and p.kind == "eval"), None)
                if evaluator is not None:
                    _check_gate_metrics(stage, evaluator)
            lines.append(f"  {stage.name}: gate metrics {', '.join(dict.fromkeys(_gate_metrics(config)))}: known")
    return lines


def _suites(config) -> list:
    from posttrain.eval.run import SuiteOptions, build_suites

    return build_suites(list(config.suites), SuiteOptions(judge=config.judge, baseline=config.baseline,
                                                               refusal_judge=config.refusal_judge,
                                                               judge_model=config.judge_model))


def _gate_metrics(config) -> list[str]:
    return [*config.max_drop, *config.max_rise, *config.at_least, *config.at_most]


def _check_gate_metrics(gate: PlannedStage, evaluator: PlannedStage) -> None:

    known = [f"{suite.name}.{metric}" for suite in _suites(evaluator.config) for metric in suite.metrics]
    for metric in _gate_metrics(gate.config):
        if metric not in known:
            raise UserError(f"stage '{gate.name}': metric '{metric}'{closest(metric, known)} is not measured by "
                            f"eval stage '{evaluator.name}' (it has: {', '.join(known)})")


def _check_model(spec: str) -> str:
    from posttrain.models.loading import EMBEDDED, resolve

    if spec in EMBEDDED:
        return "embedded model"
    resolved = resolve(spec)  # raises a UserError for a missing directory or file
    return "hub id (not checked offline)" if resolved == spec and not Path(spec).exists() else "model directory"


# ---------------------------------------------------------------------------------------------
# The manifest


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_hashes(planned: list[PlannedStage]) -> dict[str, str]:
    """sha256 of every input data file the stages read (stage outputs are hashed when written)."""
    from posttrain.data.readers import resolve_data_path

    produced = {stage.output for stage in planned}
    hashes = {}
    for stage in planned:
        for key in ("data", "eval_data"):
            value = getattr(stage.config, key, None)
            if value and value not in produced and value not in hashes:
                path = Path(resolve_data_path(value))
                hashes[value] = _sha256(path) if path.is_file() else "directory (not hashed)"
    return hashes


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("posttrain", "torch", "transformers", "peft", "safetensors"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Manifest:
    """``manifest.json`` of a run directory, saved atomically after every change."""

    def __init__(self, path: Path, data: dict):
        self.path, self.data = path, data

    @classmethod
    def open(cls, recipe: Recipe, planned: list[PlannedStage]) -> Manifest:
        path = Path(recipe.output_dir) / "manifest.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        stages = data.get("stages", {})
        for stage in planned:
            old = stages.get(stage.name)
            if old and old.get("status") == "done" and old.get("config") != stage.resolved():
                raise UserError(f"stage '{stage.name}' already ran in {recipe.output_dir} with a different config; "
                                "use a new output_dir, or --restart to run every stage again")
        data.update({
            "recipe": {"name": recipe.name, "path": recipe.source, "sha256": hashlib.sha256(recipe.text.encode()).hexdigest(),
                       "text": recipe.text},
            "base_model": recipe.model,
            "data": data_hashes(planned),
            "versions": package_versions(),
            "command": " ".join(sys.argv),
        })
        data.setdefault("created", _now())
        data["stages"] = {stage.name: {"stage": stage.kind, "config": stage.resolved(), "status": "pending",
                                       **{k: v for k, v in stages.get(stage.name, {}).items() if k not in ("stage", "config")}}
                          for stage in planned}
        manifest = cls(path, data)
        manifest.save()
        return manifest

    def save(self) -> None:
        write_text_atomic(self.path, json.dumps(self.data, indent=1))

    def stage(self, name: str) -> dict:
        return self.data["stages"][name]

    def update(self, name: str, **values) -> None:
        self.stage(name).update(values)
        self.save()


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict
    report: str | None  # the last comparison report written
    table: str | None  # its before/after metrics table
    gate_passed: bool | None


def _is_done(stage: PlannedStage, record: dict) -> bool:
    return record.get("status") == "done" and Path(stage.output).exists()


def run_recipe(recipe: Recipe, *, restart: bool = False, echo=print) -> RunResult:
    """Run every stage not already done; see the module docstring."""
    planned = plan(recipe)
    run_dir = Path(recipe.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if restart and (run_dir / "manifest.json").exists():
        (run_dir / "manifest.json").unlink()
    manifest = Manifest.open(recipe, planned)
    started = time.monotonic()
    gate_passed = None
    for number, stage in enumerate(planned, 1):
        record = manifest.stage(stage.name)
        header = f"[{number}/{len(planned)}] {stage.kind} '{stage.name}'"
        if _is_done(stage, record) and not restart:
            echo(f"{header}: done in an earlier run, skipped ({stage.output})")
            if stage.kind == "gate":
                gate_passed = bool(record.get("metrics", {}).get("passed"))
            continue
        resuming = record.get("status") in ("running", "failed")
        echo(f"{header}{' (resuming)' if resuming else ''} -> {stage.directory}")
        manifest.update(stage.name, status="running", started=_now())
        stage_started = time.monotonic()
        try:
            outcome = EXECUTORS[stage.kind](stage, planned, recipe)
        except GateFailed as failure:
            manifest.update(stage.name, status="failed", finished=_now(),
                            seconds=round(time.monotonic() - stage_started, 1), error=str(failure))
            raise
        except BaseException as error:
            manifest.update(stage.name, status="failed", finished=_now(),
                            seconds=round(time.monotonic() - stage_started, 1), error=f"{type(error).__name__}: {error}")
            raise
        outputs = {"output": stage.output, **outcome.get("outputs", {})}
        if stage.kind == "rejection-sample":
            manifest.data["data"][stage.output] = _sha256(stage.output)
        # The process's peak so far (not reset per stage, so outside tools still see the run's
        # peak): the stage where it rises is the one that set it.
        peak = peak_rss_gb()
        manifest.update(stage.name, status="done", finished=_now(), seconds=round(time.monotonic() - stage_started, 1),
                        peak_rss_gb_so_far=round(peak, 2) if peak is not None else None,
                        outputs=outputs, metrics=outcome.get("metrics", {}), error=None)
        if stage.kind == "gate":
            gate_passed = bool(outcome["metrics"]["passed"])
    manifest.data["seconds_this_run"] = round(time.monotonic() - started, 1)
    manifest.data["finished"] = _now()
    manifest.save()
    report, table = last_report(planned)
    return RunResult(run_dir, manifest.data, report, table, gate_passed)
