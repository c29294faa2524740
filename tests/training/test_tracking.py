"""report_to: the old keys' meaning, the missing-package error before anything loads, and a run read back from
MLflow (a local sqlite store) and trackio (a local directory, when trackio is installed)."""

import importlib.util
import json
from pathlib import Path

import pytest

from posttrain.algos.sft import train_sft
from posttrain.config import SFTConfig, load_config
from posttrain.errors import UserError
from posttrain.training.metrics import MetricsLogger

FAST = dict(batch_size=8, lr=1e-2, max_length=128, progress=False, eval_fraction=0.1, warmup_ratio=0.0)


def jsonl_losses(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in Path(run_dir, "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["train/loss"] for row in rows if "train/loss" in row}


@pytest.mark.parametrize("values, trackers, project", [
    ({}, ["tensorboard"], None),
    ({"tensorboard": False}, [], None),
    ({"report_to": "none"}, [], None),
    ({"report_to": "mlflow,wandb"}, ["mlflow", "wandb"], None),
    ({"report_to": ["mlflow", "mlflow"], "tensorboard": True}, ["mlflow", "tensorboard"], None),
    ({"wandb_project": "demo"}, ["tensorboard", "wandb"], "demo"),
    ({"wandb_project": "demo", "tensorboard": False, "report_to": ["trackio"]}, ["trackio", "wandb"], "demo"),
])
def test_old_keys_map_onto_report_to(values, trackers, project):
    config = load_config(SFTConfig, None, values)
    assert (config.report_to, config.project) == (trackers, project)
    # The resolved config saved with a run reads back the same.
    assert load_config(SFTConfig, None, config.model_dump()).report_to == trackers


def test_bad_tracker_names_are_one_line_errors():
    with pytest.raises(UserError, match="unknown tracker 'mlfow' \\(did you mean 'mlflow'\\?\\)"):
        load_config(SFTConfig, None, {"report_to": ["mlfow"]})
    with pytest.raises(UserError, match="give project only"):
        load_config(SFTConfig, None, {"wandb_project": "a", "project": "b"})


@pytest.mark.parametrize("tracker", ["wandb", "mlflow", "trackio"])
def test_missing_tracker_fails_before_the_model_loads(tracker, tiny_model, sft_data, tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == tracker else real_find_spec(name, *a))
    monkeypatch.setattr("posttrain.algos.sft.load_tokenizer", lambda *a: pytest.fail("loaded the tokenizer"))
    out = tmp_path / "run"
    config = load_config(SFTConfig, None, dict(model=tiny_model, data=sft_data, output_dir=str(out), report_to=[tracker]))
    with pytest.raises(UserError) as error:
        train_sft(config)
    assert str(error.value) == (f"report_to: {tracker} needs the {tracker} package, which is not installed: "
                                f"pip install 'posttrain[{tracker}]'")
    assert not out.exists()


def test_mlflow_gets_params_and_every_step(tiny_model, sft_data, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    # MLflow 3 refuses a new file store (maintenance mode); sqlite is its local store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    client.create_experiment("tiny", artifact_location=str(tmp_path / "artifacts"))
    out = tmp_path / "run"
    config = load_config(SFTConfig, None, dict(model=tiny_model, data=sft_data, output_dir=str(out), max_steps=3,
                                               report_to=["mlflow"], project="tiny", **FAST))
    train_sft(config)

    run_id = (out / "mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    assert (run.info.run_name, run.info.status) == ("run", "FINISHED")
    assert client.get_experiment(run.info.experiment_id).name == "tiny"
    assert run.data.params["lr"] == "0.01" and run.data.params["report_to"] == '["mlflow"]'
    assert run.data.tags["posttrain.run_dir"] == str(out.resolve())
    history = {m.step: m.value for m in client.get_metric_history(run_id, "train/loss")}
    assert history == pytest.approx(jsonl_losses(out)) and sorted(history) == [1, 2, 3]
    assert any(key.startswith("eval") for key in run.data.metrics)  # the held-out loss at the end

    # The same run directory opened again (a resumed run) continues the same MLflow run; a param that may
    # change on resumption keeps its first value instead of failing.
    again = MetricsLogger(out, config.model_copy(update={"save_every": 7}))
    again.log(4, {"train/loss": 0.5})
    again.close()
    assert again.trackers[0].run_id == run_id
    assert client.get_run(run_id).data.params["save_every"] == "0"
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")][-1] == 4


def test_trackio_gets_every_step(tiny_model, sft_data, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))  # read when trackio is first imported
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trackio = pytest.importorskip("trackio")
    from trackio.sqlite_storage import SQLiteStorage

    if not str(trackio.utils.TRACKIO_DIR).startswith(str(tmp_path)):
        pytest.skip("trackio was imported earlier with another TRACKIO_DIR")
    out = tmp_path / "run"
    train_sft(load_config(SFTConfig, None, dict(model=tiny_model, data=sft_data, output_dir=str(out), max_steps=3,
                                                report_to=["trackio"], project="tiny", **FAST)))
    logs = SQLiteStorage.get_logs("tiny", "run")
    history = {row["step"]: row["train/loss"] for row in logs if "train/loss" in row}
    assert history == pytest.approx(jsonl_losses(out)) and sorted(history) == [1, 2, 3]
