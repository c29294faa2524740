"""bench/judgement_sweep.py on the tiny model: each variant trains, is evaluated, and lands in the JSON
as soon as it is done; a DPO variant starts from its SFT variant's model."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import judgement_sweep  # noqa: E402


def test_sft_then_dpo_variants_are_trained_evaluated_and_recorded(tiny_model, tmp_path):
    out = tmp_path / "sweep.json"
    assert judgement_sweep.main(["--model", tiny_model, "--tiny", "--out", str(out), "--device", "cpu",
                                 "--only", "A: ", "A+dpo200"]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"A: today's SFT", "A+dpo200: today's recipe"}
    sft, dpo = results["A: today's SFT"], results["A+dpo200: today's recipe"]
    assert [next(iter(stage)) for stage in sft["stages"]] == ["sft"]
    assert dpo["from"] == "A: today's SFT" and [next(iter(stage)) for stage in dpo["stages"]] == ["dpo"]
    for record in (sft, dpo):
        metrics = record["metrics"]
        for key in ("safety.refusal", "safety.over_refusal", "red-team.attack_success", "everyday.refused"):
            assert 0.0 <= metrics[key]["value"] <= 1.0
            low, high = metrics[key]["ci"]
            assert low <= metrics[key]["value"] <= high
