"""What each kind of recipe stage does: one function ``(stage, planned, recipe) -> {"outputs", "metrics"}``.

Training and rejection-sampling stages run the function :data:`posttrain.registry.TRAINERS` names for
their kind, the same one their command (``posttrain sft`` ...) runs, so a stage in a recipe and the
command with the same keys do the same thing; eval, gate and export are recipe-only executors here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from posttrain.errors import UserError
from posttrain.pipeline.recipe import GateFailed, PlannedStage, Recipe
from posttrain.registry import POLICY_TRAINING, TRAINERS, TRAINING
from posttrain.util import write_text_atomic


def _summary_metrics(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if isinstance(value, int | float) and not isinstance(value, bool)}


def run_training(stage: PlannedStage, planned: list[PlannedStage], recipe: Recipe) -> dict:
    summary = TRAINERS[stage.kind].load()(stage.config)
    outputs = {"final_model": summary.get("final_model")}
    adapter = Path(stage.output + "-adapter")
    if adapter.is_dir():
        outputs["adapter"] = str(adapter)
    return {"outputs": outputs, "metrics": _summary_metrics(summary)}


def run_rejection(stage: PlannedStage, planned: list[PlannedStage], recipe: Recipe) -> dict:
    summary = TRAINERS[stage.kind].load()(stage.config)
    return {"metrics": _summary_metrics(summary)}


def run_eval(stage: PlannedStage, planned: list[PlannedStage], recipe: Recipe) -> dict:
    from posttrain.eval.gate import load_result
    from posttrain.eval.report import before_after_table, render_report, write_report
    from posttrain.eval.run import evaluate, format_table, write_result

    config = stage.config
    result = evaluate(config.model, list(config.suites), limit=config.limit, seed=config.seed,
                      batch_size=config.batch_size, judge=config.judge, baseline=config.baseline,
                      refusal_judge=config.refusal_judge, judge_model=config.judge_model,
                      progress=config.progress, engine=config.engine)
    print(format_table(result))
    write_result(result, stage.output)
    outputs = {}
    if config.compare_to:
        before = load_result(config.compare_to)
        report = stage.directory / "report.html"
        write_report(report, render_report(before, result, title=f"{recipe.name}: before and after"))
        outputs["report"] = str(report)
        print(before_after_table(before, result))
        print(f"report: {report}")
    return {"outputs": outputs, "metrics": {name: entry["value"] for name, entry in result["metrics"].items()}}


def run_gate(stage: PlannedStage, planned: list[PlannedStage], recipe: Recipe) -> dict:
    from posttrain.eval.gate import (
        check_gate,
        failure_line,
        format_gate_table,
        load_result,
    )

    config = stage.config
    result = check_gate(load_result(config.new), load_result(config.baseline), max_drop=config.max_drop,
                        max_rise=config.max_rise, at_least=config.at_least, at_most=config.at_most,
                        use_intervals=not config.strict)
    print(format_gate_table(result))
    write_text_atomic(stage.output, json.dumps(result.to_dict(), indent=1))
    if not result.passed and config.on_fail == "stop":
        raise GateFailed(failure_line(result))
    print("gate passed" if result.passed else failure_line(result) + " (on_fail: continue)")
    return {"metrics": {"passed": result.passed}}


def run_export(stage: PlannedStage, planned: list[PlannedStage], recipe: Recipe) -> dict:
    model_dir = Path(stage.config.model)
    if not (model_dir / "config.json").is_file():
        from posttrain.models.loading import resolve

        model_dir = Path(resolve(stage.config.model))
    producer = next((p for p in planned if p.output == stage.config.model and p.kind in POLICY_TRAINING), None)
    adapter = Path(producer.output + "-adapter") if producer else None
    written = export_model(model_dir, stage.directory, model_card(recipe, planned, producer),
                           adapter if adapter and adapter.is_dir() else None)
    if stage.config.format == "gguf":
        from posttrain.models.export import write_gguf_with_modelfile

        written.update(write_gguf_with_modelfile(model_dir, stage.directory, stage.config.quantize or "f16",
                                                 name=recipe.name))
    return {"outputs": {key: str(path) for key, path in written.items()}}


def export_model(model_dir: Path, target: Path, card: str, adapter: Path | None = None) -> dict[str, Path]:
    """Copy a merged model into ``target/model`` with ``README.md``, and the adapter into ``target/adapter``.

    Each directory is staged beside its final place and renamed in, so an interrupted export never
    leaves a half-written model where a loader would find it.
    """
    written = {}
    for name, source in (("model", model_dir), ("adapter", adapter)):
        if source is None:
            continue
        final = target / name
        staging = target / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        write_text_atomic(staging / "README.md", card)
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        written[name] = final
    if "model" not in written:
        raise UserError(f"nothing to export: {model_dir} is not a model directory")
    return written


def _front_matter(recipe: Recipe, planned: list[PlannedStage]) -> list[str]:
    """The card's YAML front matter (what the Hugging Face hub reads): the base model as a hub id
    where it is known, tags, the training data and, for an embedded base, its licence."""
    from posttrain.models.loading import EMBEDDED_ORIGIN

    base, licence = EMBEDDED_ORIGIN.get(recipe.model, (recipe.model, None))
    datasets = []
    for stage in planned:
        for spec in str(getattr(stage.config, "data", "") or "").split(" + "):
            if spec.strip() and spec.strip() not in datasets:
                datasets.append(spec.strip())
    tags = ["posttrain", *dict.fromkeys(stage.kind for stage in planned if stage.kind not in ("eval", "gate", "export"))]
    meta = {"base_model": base, "library_name": "transformers", "pipeline_tag": "text-generation", "tags": tags,
            "datasets": datasets, **({"license": licence} if licence else {})}
    return ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", ""]


def model_card(recipe: Recipe, planned: list[PlannedStage], producer: PlannedStage | None) -> str:
    """README.md of an exported model: how it was made (the recipe), from what data, and its eval table."""
    lines = [*_front_matter(recipe, planned), f"# {recipe.name}", "",
             f"Post-trained from `{recipe.model}` with posttrain, by the recipe below.", ""]
    if producer is not None:
        lines += [f"The weights are the merged output of the `{producer.name}` stage ({producer.kind})."]
        if (Path(producer.output + "-adapter")).is_dir():
            lines.append("The `adapter` directory beside this one holds that stage's LoRA adapter alone; "
                         f"its base is the model the stage started from (`{producer.config.model}`).")
        lines.append("")
    lines += ["## Stages", "", "| stage | kind | model | data |", "|---|---|---|---|"]
    for stage in planned:
        lines.append(f"| {stage.name} | {stage.kind} | {getattr(stage.config, 'model', '') or ''} "
                     f"| {getattr(stage.config, 'data', '') or ''} |")
    _, table = last_report(planned)
    if table:
        lines += ["", "## Evaluation before and after", "", "```", table, "```"]
    lines += ["", "## Recipe", "", "```yaml", recipe.text.strip(), "```", "",
              "Load it with `AutoModelForCausalLM.from_pretrained(<this directory>)`.", ""]
    return "\n".join(lines)


def last_report(planned: list[PlannedStage]) -> tuple[str | None, str | None]:
    """The last eval stage with ``compare_to``: its HTML report path and a before/after table."""
    from posttrain.eval.gate import load_result
    from posttrain.eval.report import before_after_table

    for stage in reversed(planned):
        if stage.kind == "eval" and stage.config.compare_to and Path(stage.output).exists():
            before = load_result(stage.config.compare_to)
            after = load_result(stage.output)
            return str(stage.directory / "report.html"), before_after_table(before, after)
    return None, None


EXECUTORS: dict[str, Callable[[PlannedStage, list[PlannedStage], Recipe], dict]] = {
    **{kind: run_training if kind in TRAINING else run_rejection for kind in TRAINERS},
    "eval": run_eval, "gate": run_gate, "export": run_export,
}
