"""Every recipe shipped in recipes/ plans: keys valid, references resolve, gate metrics exist."""

from pathlib import Path

import pytest

from posttrain.pipeline.loop import load_loop_config, round_recipe
from posttrain.pipeline.recipe import load_recipe
from posttrain.pipeline.runner import _check_gate_metrics, plan

RECIPES = Path(__file__).parents[2] / "recipes"
PIPELINES = sorted(path for path in RECIPES.rglob("*.yaml") if "stages:" in path.read_text())


@pytest.mark.parametrize("path", PIPELINES, ids=lambda path: str(path.relative_to(RECIPES)))
def test_shipped_pipeline_recipes_plan(path):
    planned = plan(load_recipe(str(path)))
    by_output = {stage.output: stage for stage in planned}
    for stage in planned:
        if stage.kind == "gate":
            for value in (stage.config.new, stage.config.baseline):
                _check_gate_metrics(stage, by_output[value])
    assert planned[-1].kind == "export"


def test_the_shipped_loop_config_builds_a_round_recipe(tmp_path):
    config = load_loop_config(str(RECIPES / "loop.yaml"))
    recipe = round_recipe(config, "smollm2-135m", tmp_path / "round-001",
                          {"preference": "p.jsonl", "sft": "s.jsonl", "unpaired": None})
    assert [stage["name"] for stage in recipe["stages"]] == ["promoted", "sft", "train", "candidate", "gate", "export"]
    assert recipe["stages"][2]["data"] == "p.jsonl" and recipe["stages"][4]["on_fail"] == "continue"
