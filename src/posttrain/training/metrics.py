"""Metrics to ``metrics.jsonl`` and to the trackers named in ``report_to``.

``metrics.jsonl`` in the run directory is always written. The trackers: ``tensorboard`` (event files under
``RUN_DIR/tensorboard``; comes with posttrain), ``wandb``, ``mlflow`` and ``trackio`` (each an optional extra,
``pip install 'posttrain[mlflow]'``). :func:`require_trackers` checks that their packages are installed; every
trainer calls it before loading anything, so a missing one is a one-line error, not a traceback after the model
has loaded. Each tracker is a small class with ``log(step, metrics)`` and ``close()``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

from posttrain.errors import UserError
from posttrain.util import closest

# tracker name -> how to install what it needs
TRACKERS = {
    "tensorboard": "pip install tensorboard",
    "wandb": "pip install 'posttrain[wandb]'",
    "mlflow": "pip install 'posttrain[mlflow]'",
    "trackio": "pip install 'posttrain[trackio]'",
}


def tracker_names(value) -> list[str]:
    """``report_to`` as a list of known names, in order, without repeats: a list, or a string of
    comma-separated names; ``none`` (or an empty list) means no tracker."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of tracker names ({', '.join(TRACKERS)}), got {value!r}")
    names: list[str] = []
    for item in value:
        for name in str(item).split(","):
            name = name.strip().lower()
            if name in ("", "none") or name in names:
                continue
            if name not in TRACKERS:
                raise ValueError(f"unknown tracker {name!r}{closest(name, list(TRACKERS))}: "
                                 f"choose from {', '.join(TRACKERS)} or none")
            names.append(name)
    return names


def require_trackers(names) -> None:
    """Fail with a one-line error naming the extra to install when a tracker's package is missing."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            raise UserError(f"report_to: {name} needs the {name} package, which is not installed: {TRACKERS[name]}")


def numeric(metrics: dict) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def run_config(config) -> dict:
    return config.model_dump(mode="json") if config is not None else {}


class TensorBoardTracker:
    def __init__(self, run_dir: Path, config):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def log(self, step: int, metrics: dict) -> None:
        for key, value in numeric(metrics).items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    def __init__(self, run_dir: Path, config):
        import wandb

        self.run = wandb.init(project=getattr(config, "project", None), name=run_dir.name, config=run_config(config))

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class MLflowTracker:
    """One MLflow run per run directory: the config as params, every metric per step, and the run directory's
    path as the tag ``posttrain.run_dir`` (the final model is not copied to the artifact store: it can be
    gigabytes). The server is MLflow's own setting (``MLFLOW_TRACKING_URI``); the experiment is ``project``, else
    ``MLFLOW_EXPERIMENT_NAME``, else MLflow's Default. A resumed run directory continues the same MLflow run
    (its id is kept in ``RUN_DIR/mlflow_run_id``)."""

    PARAM_LENGTH = 6000  # MLflow's limit on a param's value

    def __init__(self, run_dir: Path, config):
        from mlflow import MlflowClient
        from mlflow.entities import Param

        self.client = MlflowClient()
        self.run_dir = run_dir
        id_file = run_dir / "mlflow_run_id"
        self.run_id = self._previous_run(id_file)
        if self.run_id is None:
            experiment = (getattr(config, "project", None) or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "Default")
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(experiment_id, run_name=run_dir.name).info.run_id
            id_file.write_text(self.run_id + "\n")
        # A param cannot change once logged: a resumed run adds only the keys it does not have yet (the keys
        # a resumption may change, such as save_every, keep their first value).
        logged = self.client.get_run(self.run_id).data.params
        params = [Param(key, self._text(value)) for key, value in run_config(config).items() if key not in logged]
        for start in range(0, len(params), 100):  # log_batch takes at most 100 params
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def _previous_run(self, id_file: Path) -> str | None:
        if not id_file.exists():
            return None
        run_id = id_file.read_text().strip()
        try:
            self.client.get_run(run_id)
        except Exception:  # another tracking server, or the run was deleted: start a new one
            return None
        self.client.update_run(run_id, status="RUNNING")
        return run_id

    def _text(self, value) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return text[: self.PARAM_LENGTH]

    def log(self, step: int, metrics: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [Metric(key, value, now, step) for key, value in numeric(metrics).items()]
        if entries:
            self.client.log_batch(self.run_id, metrics=entries)

    def close(self) -> None:
        self.client.set_tag(self.run_id, "posttrain.run_dir", str(self.run_dir.resolve()))
        self.client.set_terminated(self.run_id)


class TrackioTracker:
    """A trackio run named after the run directory, in project ``project`` (default ``posttrain``); trackio keeps
    it locally (``TRACKIO_DIR``, default ``~/.cache/huggingface/trackio``) unless told to use a Space."""

    def __init__(self, run_dir: Path, config):
        import trackio

        self.run = trackio.init(project=getattr(config, "project", None) or "posttrain", name=run_dir.name,
                                config=run_config(config), resume="allow", embed=False)

    def log(self, step: int, metrics: dict) -> None:
        self.run.log(numeric(metrics), step=step)

    def close(self) -> None:
        self.run.finish()


TRACKER_CLASSES = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "mlflow": MLflowTracker,
                   "trackio": TrackioTracker}


class MetricsLogger:
    """``metrics.jsonl`` plus the trackers of ``config.report_to`` (none without a config)."""

    def __init__(self, run_dir: Path, config=None):
        run_dir = Path(run_dir)
        self.path = run_dir / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        names = list(getattr(config, "report_to", None) or [])
        require_trackers(names)
        self.handle = open(self.path, "a")
        self.trackers = [TRACKER_CLASSES[name](run_dir, config) for name in names]

    def log(self, step: int, metrics: dict[str, float]) -> None:
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        for tracker in self.trackers:
            tracker.log(step, metrics)

    def close(self) -> None:
        self.handle.close()
        for tracker in self.trackers:
            tracker.close()
