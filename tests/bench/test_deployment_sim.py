"""bench/deployment_sim.py end to end on the tiny model: serve (killed and restarted), users, reviewers
through the labeling app's HTTP interface, `posttrain loop` with a concurrent one refused, outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_one_tiny_round_loses_nothing_counts_every_exclusion_and_writes_the_report(tiny_model, tmp_path):
    out = tmp_path / "sim"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "deployment_sim.py"), "--tiny", "--model", tiny_model,
                           "--rounds", "1", "--requests", "16", "--malicious", "0.3", "--biased", "0.2", "--human-eval", "2",
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    (entry,) = summary["rounds"]
    assert entry["status"] in ("promoted", "rejected")
    # the kill: every response received and every acknowledged feedback is in the store exactly once
    integrity = entry["integrity"]
    assert integrity["ok"] == 1
    assert integrity["responses_received"] >= 16  # and more: a malicious user asks a harmful request 3 times
    assert integrity["responses_received_in_store"] == integrity["responses_received"]
    assert integrity["feedback_acknowledged_in_store_once"] == integrity["feedback_acknowledged"]
    assert integrity["round_records"] == integrity["round_records_expected"]
    assert integrity["judgements_in_store"] == integrity["judgements_posted"] == entry["feedback"]["reviewer_judgements"]
    assert entry["concurrent_loop_refused"] and "another `posttrain loop` is running" in entry["concurrent_loop_message"]
    # every record is kept or excluded for a stated reason; the seeded gold items never train
    defences = entry["defences"]
    assert defences["records_in"] == defences["records_kept"] + sum(defences["excluded"].values())
    assert defences["excluded"]["gold_item"] > 0 and "rev-malicious" in defences["reviewers"]
    assert entry["feedback"]["served_thumbs"] + entry["feedback"]["served_choices"] == integrity["feedback_acknowledged"]
    assert entry["feedback"]["reviewer_judgements"] > 0
    # the closing human evaluation, reported by `posttrain label report`
    human = summary["human_eval"]
    assert [model["model"] for model in human["models"]] == ["initial", "final"]
    # 2 prompts x 4 reviewers (3 honest, 1 malicious): every judgement is a win for one side or a tie
    assert human["judgements"] == 2 * 4 and sum(model["wins"] for model in human["models"]) + human["ties"] == 8
    assert "| round | status" in (out / "summary.md").read_text()
    assert "Human evaluation" in (out / "summary.md").read_text()
    assert (out / "deployment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "summary.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((out / "loop" / "state.json").read_text())["rounds"] == 1
