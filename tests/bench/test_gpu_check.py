"""bench/gpu_check.py stays runnable: its smoke mode on this CPU, on the tiny model, end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_smoke_runs_every_stage(tiny_model, tmp_path):
    out = tmp_path / "check.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--smoke", "--model", tiny_model,
                           "--dtype", "float32", "--engines", "native", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert {"sft_lora", "sft_full", "dpo_lora", "grpo_lora_native"} <= set(report["results"])
    assert report["failures"] == []
    for name in ("sft_lora", "sft_full", "dpo_lora", "grpo_lora_native"):
        result = report["results"][name]
        assert result["check"] == "ok" and result["steps"] >= 2 and result["wall_s"] > 0, (name, result)
    assert report["results"]["sft_full"]["saved_dtype"] == "float32"


def test_gpu_check_without_a_gpu_says_so(tiny_model):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--model", tiny_model, "--device", "cpu"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "no CUDA device" in done.stderr and "Traceback" not in done.stderr
