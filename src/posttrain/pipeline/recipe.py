"""Recipes: a list of stages, each stage's output feeding the next by name.

A recipe file::

    name: quickstart
    model: smollm2-135m            # the base model every chain starts from
    output_dir: runs/quickstart    # one run directory: a subdirectory per stage plus manifest.json
    defaults: {num_threads: 2}     # merged into every stage whose config has the key
    stages:
      - {stage: eval, name: before, suites: [math, safety]}
      - {stage: sft, data: "bundled:capability_sft", max_steps: 40}
      - {stage: dpo, data: "bundled:capability_preference"}
      - {stage: eval, name: after, suites: [math, safety], compare_to: before}
      - {stage: gate, new: after, baseline: before, max_drop: {math.accuracy: 0.05}}
      - {stage: export}

Every stage has a kind (``stage:``) and a unique ``name`` (default: the kind, numbered when it
repeats). The other keys are the stage's config: the same keys as the matching command
(``posttrain sft --help`` ...), validated by the same pydantic models.

References. In ``model``, ``reward_model``, ``data``, ``eval_data``, ``judge``, ``baseline``,
``new`` and ``compare_to`` a value naming an earlier stage means that stage's output (its final
model, the SFT file a rejection-sampling stage wrote, an eval stage's result); ``base`` means the
recipe's ``model``. A stage without ``model`` takes the *current* model: the output of the latest
policy-training stage (sft, dpo, grpo, ppo), or the base before any ran. The reward-model stage
does not change the current model. Training stages write to ``<output_dir>/<name>``; setting their
``output_dir`` is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from posttrain.config import ENGINE_HELP, BaseConfig
from posttrain.errors import UserError
from posttrain.registry import TRAINERS, TRAINING
from posttrain.util import closest, format_validation_error, read_yaml


class EvalStage(BaseConfig):
    """Evaluate a model on capability suites; with ``compare_to`` also write the side-by-side HTML report."""

    model: str | None = Field(None, description="Model to evaluate (default: the current model).")
    suites: list[str] = Field(min_length=1, description="Suite names (see `posttrain eval --help`).")
    limit: int | None = Field(None, gt=0, description="Only the first N items of each suite.")
    seed: int = Field(0, description="Seed of generation and bootstrap.")
    batch_size: int = Field(16, gt=0, description="Answers generated together.")
    judge: str | None = Field(None, description="Reward model directory judging the helpfulness suite (in a recipe also "
                                                "an rm stage's name).")
    baseline: str | None = Field(None, description="Model the helpfulness suite compares against.")
    refusal_judge: str | None = Field(None, description="Chat model judging refusals in the safety suite (default: the "
                                                        "pattern classifier).")
    judge_model: str | None = Field(None, description="Chat model judging the helpfulness suite pairwise in both orders "
                                                      "(instead of judge).")
    compare_to: str | None = Field(None, description="Earlier eval stage: write report.html comparing it with this one.")
    engine: Literal["native", "vllm"] = Field("native", description=ENGINE_HELP)
    progress: bool = Field(True, description="Show a progress bar.")


class GateStage(BaseConfig):
    """Regression gate between two eval stages (see `posttrain gate`)."""

    new: str = Field(description="The eval stage (or result .json) under test.")
    baseline: str = Field(description="The eval stage (or result .json) holding the line.")
    max_drop: dict[str, float] = Field(default_factory=dict, description="METRIC: largest allowed fall.")
    max_rise: dict[str, float] = Field(default_factory=dict, description="METRIC: largest allowed climb.")
    at_least: dict[str, float] = Field(default_factory=dict, description="METRIC: lowest allowed value, whatever the baseline.")
    at_most: dict[str, float] = Field(default_factory=dict, description="METRIC: highest allowed value, whatever the baseline.")
    strict: bool = Field(False, description="Compare point values only, ignoring confidence intervals.")
    on_fail: Literal["stop", "continue"] = Field("stop", description="stop: end the run (exit 1); continue: record and go on.")

    @model_validator(mode="after")
    def _some_check(self):
        if not (self.max_drop or self.max_rise or self.at_least or self.at_most):
            raise ValueError("a gate needs max_drop and/or max_rise entries (METRIC: ALLOWANCE), or at_least / at_most")
        return self


class ExportStage(BaseConfig):
    """A merged Hugging Face model directory with a model card, plus the LoRA adapter when there is one."""

    model: str | None = Field(None, description="Model to export (default: the current model).")
    format: Literal["hf", "gguf"] = Field("hf", description="hf: the directories only; gguf: also model.gguf (tokenizer "
                                          "and chat template inside) and an Ollama Modelfile, for Llama models.")
    quantize: Literal["f32", "f16", "q8_0"] | None = Field(
        None, description="Weight type of the GGUF file (default f16); the HF directory keeps the trained weights as they are.")

    @model_validator(mode="after")
    def _quantize_needs_gguf(self):
        if self.format == "hf" and self.quantize is not None:
            raise ValueError("quantize applies to the GGUF file: set format: gguf")
        return self


STAGE_CONFIGS: dict[str, type[BaseConfig]] = {
    **{kind: trainer.config for kind, trainer in TRAINERS.items()},
    "eval": EvalStage, "gate": GateStage, "export": ExportStage,
}
REFERENCE_FIELDS = ("model", "reward_model", "data", "eval_data", "judge", "baseline", "refusal_judge", "judge_model", "new", "compare_to")


class GateFailed(Exception):
    """A gate stage with ``on_fail: stop`` found a regression; the run ends with exit code 1."""


@dataclass
class PlannedStage:
    kind: str
    name: str
    config: BaseConfig
    directory: Path
    output: str  # what later stages get when they name this stage
    references: dict[str, str] = field(default_factory=dict)  # config key -> stage name it came from

    def resolved(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")


class StageSpec(BaseConfig):
    stage: str
    name: str
    options: dict[str, Any]


class Recipe(BaseConfig):
    name: str = "run"
    model: str = "smollm2-135m"
    output_dir: str = "runs/pipeline"
    defaults: dict[str, Any] = Field(default_factory=dict)
    stages: list[StageSpec]
    source: str | None = None  # the recipe file's path
    text: str = ""  # the recipe file's text, for the manifest and the model card


def _stage_specs(raw: Any, source: str) -> list[StageSpec]:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{source}: 'stages' must be a non-empty list of stages")
    specs, counts = [], {}
    for number, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or "stage" not in entry:
            raise UserError(f"{source}: stage {number} must be a mapping with a 'stage' key (one of {', '.join(STAGE_CONFIGS)})")
        options = dict(entry)
        kind = str(options.pop("stage"))
        if kind not in STAGE_CONFIGS:
            raise UserError(f"{source}: stage {number}: unknown stage '{kind}'{closest(kind, list(STAGE_CONFIGS))}")
        counts[kind] = counts.get(kind, 0) + 1
        name = str(options.pop("name", kind if counts[kind] == 1 else f"{kind}{counts[kind]}"))
        if name == "base" or not name.replace("-", "").replace("_", "").isalnum():
            raise UserError(f"{source}: stage {number}: bad name '{name}' (letters, digits, - and _; not 'base')")
        if any(spec.name == name for spec in specs):
            raise UserError(f"{source}: two stages are named '{name}'; give one a different 'name'")
        if kind in TRAINING | {"rejection-sample"} and ("output_dir" in options or "output" in options):
            raise UserError(f"{source}: stage '{name}': its output is set by the recipe (<output_dir>/{name}); remove the key")
        specs.append(StageSpec(stage=kind, name=name, options=options))
    return specs


def load_recipe(path: str) -> Recipe:
    """Read and check the shape of a recipe file (stage configs are validated by :func:`stage_config`)."""
    file = Path(path)
    raw, text = read_yaml(path, "recipe")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a recipe is a mapping with a 'stages' list")
    known = {"name", "model", "output_dir", "defaults", "stages"}
    for key in raw:
        if key not in known:
            raise UserError(f"{path}: unknown key '{key}'{closest(key, sorted(known))}")
    if not isinstance(raw.get("defaults", {}), dict):
        raise UserError(f"{path}: 'defaults' must be a mapping of config keys")
    return Recipe(
        name=str(raw.get("name", file.stem)), model=str(raw.get("model", "smollm2-135m")),
        output_dir=str(raw.get("output_dir", f"runs/{file.stem}")), defaults=raw.get("defaults") or {},
        stages=_stage_specs(raw.get("stages"), path), source=str(file), text=text,
    )


def stage_config(kind: str, name: str, values: dict[str, Any], source: str) -> BaseConfig:
    """Validate one stage's resolved values with its config model; errors name the stage and key."""
    cls = STAGE_CONFIGS[kind]
    try:
        return cls.model_validate(values)
    except ValidationError as error:
        raise UserError(format_validation_error(cls, error, f"{source}: stage '{name}'")) from None
