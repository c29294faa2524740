"""`posttrain run`: stages chained by name, manifest, resume, dry run, export, gate."""

import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import write_jsonl

from posttrain.errors import UserError
from posttrain.pipeline.recipe import load_recipe
from posttrain.pipeline.runner import GateFailed, check, plan, run_recipe

FAST = {"progress": False, "tensorboard": False, "max_length": 96, "warmup_ratio": 0.0}


def sft_rows(count: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": f"{i} + 1 = {i + 1}."}]} for i in range(count)]


def pair_rows(count: int) -> list[dict]:
    return [{"prompt": f"Name the number {i}.", "chosen": f"{i}.", "rejected": "I cannot help with that."}
            for i in range(count)]


def write_recipe(tmp_path: Path, tiny_model: str, stages: list[dict], **top) -> str:
    recipe = {"name": "tiny", "model": tiny_model, "output_dir": str(tmp_path / "run"), "defaults": FAST,
              "stages": stages, **top}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return str(path)


@pytest.fixture
def data(tmp_path):
    return {"sft": write_jsonl(tmp_path / "sft.jsonl", sft_rows(16)),
            "pref": write_jsonl(tmp_path / "pref.jsonl", pair_rows(16))}


def test_stages_chain_by_name_and_the_run_resumes(tiny_model, tmp_path, data, capsys):
    stages = [
        {"stage": "eval", "name": "before", "suites": ["math"], "limit": 2, "progress": False},
        {"stage": "sft", "data": data["sft"], "max_steps": 2, "batch_size": 4, "lr": 1e-3},
        {"stage": "rm", "data": data["pref"], "max_steps": 1, "batch_size": 4},
        {"stage": "dpo", "data": data["pref"], "max_steps": 2, "batch_size": 4, "reference_cache": False},
        {"stage": "eval", "name": "after", "suites": ["math"], "limit": 2, "compare_to": "before", "progress": False},
        {"stage": "gate", "new": "after", "baseline": "before", "max_drop": {"math.accuracy": 1.0}},
        {"stage": "export"},
    ]
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    planned = {stage.name: stage for stage in plan(recipe)}
    run = tmp_path / "run"
    # The current model flows sft -> dpo; the reward model does not become the current model.
    assert planned["sft"].config.model == tiny_model
    assert planned["rm"].config.model == str(run / "sft" / "final")
    assert planned["dpo"].config.model == str(run / "sft" / "final")
    assert planned["after"].config.model == str(run / "dpo" / "final")
    assert planned["before"].config.model == tiny_model
    assert planned["gate"].config.new == str(run / "after" / "result.json")
    assert planned["export"].config.model == str(run / "dpo" / "final")
    assert planned["dpo"].config.max_length == 96  # from defaults
    assert planned["dpo"].config.save_format == "both"

    result = run_recipe(recipe)
    manifest = json.loads((run / "manifest.json").read_text())
    assert [entry["status"] for entry in manifest["stages"].values()] == ["done"] * 7
    assert manifest["data"][data["sft"]] and len(manifest["data"][data["sft"]]) == 64
    assert manifest["versions"]["torch"]
    assert manifest["stages"]["sft"]["metrics"]["step"] == 2
    assert manifest["stages"]["gate"]["metrics"]["passed"] is True
    if sys.platform.startswith("linux"):  # the process's peak memory after each stage, never falling
        peaks = [entry["peak_rss_gb_so_far"] for entry in manifest["stages"].values()]
        assert 0 < peaks[0] and peaks == sorted(peaks)
    assert result.gate_passed is True
    assert result.report == str(run / "after" / "report.html") and Path(result.report).is_file()
    assert "math.accuracy" in result.table
    # Export: a merged model AutoModelForCausalLM loads, its card, and the adapter.
    from transformers import AutoModelForCausalLM

    exported = run / "export" / "model"
    AutoModelForCausalLM.from_pretrained(exported)
    card = (exported / "README.md").read_text()
    assert "dpo" in card and "math.accuracy" in card and "stages:" in card
    import yaml

    front = yaml.safe_load(card.split("---\n")[1])  # the hub's front matter
    assert front["base_model"] == tiny_model and front["tags"][0] == "posttrain"
    assert "sft" in front["tags"] and "dpo" in front["tags"] and front["datasets"]
    assert (run / "export" / "adapter" / "adapter_config.json").is_file()

    # A second run skips every finished stage.
    capsys.readouterr()
    run_recipe(recipe)
    assert capsys.readouterr().out.count("done in an earlier run, skipped") == 7


def test_an_interrupted_stage_resumes_and_later_stages_run(tiny_model, tmp_path, data, capsys):
    stages = [{"stage": "sft", "data": data["sft"], "max_steps": 2, "batch_size": 4},
              {"stage": "export"}]
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    run_recipe(recipe)
    manifest_path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["stages"]["export"]["status"] = "running"  # as if killed during the export
    manifest_path.write_text(json.dumps(manifest))
    capsys.readouterr()
    run_recipe(recipe)
    out = capsys.readouterr().out
    assert "'sft': done in an earlier run" in out and "export 'export' (resuming)" in out
    assert json.loads(manifest_path.read_text())["stages"]["export"]["status"] == "done"


def test_a_changed_stage_config_is_refused(tiny_model, tmp_path, data):
    stages = [{"stage": "sft", "data": data["sft"], "max_steps": 1, "batch_size": 4}]
    run_recipe(load_recipe(write_recipe(tmp_path, tiny_model, stages)))
    stages[0]["lr"] = 1e-3
    with pytest.raises(UserError, match="already ran .* different config"):
        run_recipe(load_recipe(write_recipe(tmp_path, tiny_model, stages)))


def test_a_failing_gate_stops_the_run(tiny_model, tmp_path):
    before = {"metrics": {"math.accuracy": {"value": 0.9, "ci": [0.85, 0.95]}}, "items": []}
    after = {"metrics": {"math.accuracy": {"value": 0.2, "ci": [0.1, 0.3]}}, "items": []}
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    stages = [{"stage": "gate", "new": str(tmp_path / "b.json"), "baseline": str(tmp_path / "a.json"),
               "max_drop": {"math.accuracy": 0.05}}, {"stage": "export"}]
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    with pytest.raises(GateFailed, match="math.accuracy"):
        run_recipe(recipe)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["gate"]["status"] == "failed"
    assert manifest["stages"]["export"]["status"] == "pending"


@pytest.mark.parametrize(("stages", "message"), [
    ([{"stage": "sftt"}], "unknown stage 'sftt' (did you mean 'sft'?)"),
    ([{"stage": "sft", "lrr": 1}], "stage 'sft': unknown key 'lrr' (did you mean 'lr'?)"),
    ([{"stage": "sft", "output_dir": "x"}], "its output is set by the recipe"),
    ([{"stage": "sft"}, {"stage": "sft", "name": "sft"}], "two stages are named 'sft'"),
    ([{"stage": "rm", "data": "x"}, {"stage": "dpo", "model": "rm"}], "'rm' is a rm stage"),
    ([{"stage": "gate", "new": "a.json", "baseline": "b.json"}], "needs max_drop and/or max_rise"),
    ([], "non-empty list"),
])
def test_recipe_mistakes_are_one_line_errors(tiny_model, tmp_path, stages, message):
    with pytest.raises(UserError) as error:
        plan(load_recipe(write_recipe(tmp_path, tiny_model, stages)))
    assert message in str(error.value)


def test_dry_run_reads_data_and_resolves_everything(tiny_model, tmp_path, data):
    stages = [{"stage": "sft", "data": data["sft"]},
              {"stage": "grpo", "data": "bundled:addition", "reward": "math_correct"},
              {"stage": "eval", "suites": ["math", "safety"], "limit": 3}]
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    lines = check(recipe, plan(recipe))
    text = "\n".join(lines)
    assert "16 rows readable as sft" in text and "2000 rows readable as prompts" in text
    assert "reward math_correct: resolves" in text and "6 items" in text
    bad = load_recipe(write_recipe(tmp_path, tiny_model, [{"stage": "sft", "data": str(tmp_path / "missing.jsonl")}]))
    with pytest.raises(UserError, match="not found"):
        check(bad, plan(bad))
    wrong_reward = load_recipe(write_recipe(tmp_path, tiny_model, [{"stage": "grpo", "data": "bundled:addition",
                                                                   "reward": "no_such_reward"}]))
    with pytest.raises(UserError, match="no_such_reward"):
        check(wrong_reward, plan(wrong_reward))
    assert not (tmp_path / "run").exists()  # a dry run spends nothing and writes nothing


def test_dry_run_accepts_the_weighted_reward_form_training_accepts(tiny_model, tmp_path):
    """The documented ``reward: "math_correct=1,answer_tag=0.2"``: the dry run resolves what training resolves."""
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, [{"stage": "grpo", "data": "bundled:addition",
                                                              "reward": "math_correct=1,answer_tag=0.2"}]))
    assert any("reward math_correct=1,answer_tag=0.2: resolves" in line for line in check(recipe, plan(recipe)))
    bad_weight = load_recipe(write_recipe(tmp_path, tiny_model, [{"stage": "grpo", "data": "bundled:addition",
                                                                  "reward": "math_correct=high"}]))
    with pytest.raises(UserError, match="must be a number"):
        check(bad_weight, plan(bad_weight))


def test_dry_run_checks_gate_metrics_against_the_eval_suites(tiny_model, tmp_path):
    stages = [{"stage": "eval", "name": "before", "suites": ["math", "safety"]},
              {"stage": "eval", "name": "after", "suites": ["math", "safety"]},
              {"stage": "gate", "new": "after", "baseline": "before", "max_drop": {"safety.refusals": 0.1}}]
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    with pytest.raises(UserError, match=r"metric 'safety.refusals' \(did you mean 'safety.refusal'\?\)"):
        check(recipe, plan(recipe))
    stages[2]["max_drop"] = {"safety.refusal": 0.1}
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    assert any("gate metrics safety.refusal: known" in line for line in check(recipe, plan(recipe)))
    # Absolute bounds are checked the same way.
    stages[2] |= {"max_drop": {}, "at_least": {"safety.refusal": 0.9}, "at_most": {"safety.over_refusl": 0.1}}
    recipe = load_recipe(write_recipe(tmp_path, tiny_model, stages))
    with pytest.raises(UserError, match=r"metric 'safety.over_refusl' \(did you mean 'safety.over_refusal'\?\)"):
        check(recipe, plan(recipe))
