"""Small helpers many modules share: atomic file writes, "did you mean" suggestions, YAML files read
into one-line errors.

    write_text_atomic(path, text)            a crash leaves the old file or the new one, never half
    closest("lerning_rate", ["lr", ...])    " (did you mean 'lr'?)" or ""
    read_yaml(path, "recipe")                the parsed file and its text; errors name the file
    quiet_libraries()                        transformers' logging down to errors, before a model loads
    require_web("posttrain serve")           one error line naming the `web` extra when it is missing
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from posttrain.errors import UserError

# Names users bring from TRL / transformers' TrainingArguments, and ours. They are suggested, not
# accepted, so that one config has one spelling of each key.
TRL_NAMES = {
    "learning_rate": "lr",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "max_seq_length": "max_length",
    "lr_scheduler_type": "schedule",
    "logging_steps": "log_every",
    "save_steps": "save_every",
    "eval_steps": "eval_every",
    "save_total_limit": "keep_checkpoints",
    "loss_type": "loss",
}


def closest(name: str, valid: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the valid name nearest ``name`` (TRL's spellings map to ours), else ``""``."""
    alias = TRL_NAMES.get(name.replace("-", "_"))
    if alias in valid:
        return f" (did you mean '{alias}'?)"
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def format_validation_error(cls: type[BaseModel], error: ValidationError, source: str) -> str:
    """The first error of a pydantic validation as one line: ``source: key: message`` (an unknown key
    gets a suggestion)."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'{closest(key, list(cls.model_fields))}"
    return f"{source}: {key}: {first['msg']}"


def read_yaml(path: str | Path, what: str) -> tuple[Any, str]:
    """The parsed YAML file at ``path`` and its text; a missing file is ``"{what} not found: {path}"``
    and bad YAML one line naming the file."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{what} not found: {path}")
    text = file.read_text()
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as error:
        raise UserError(f"{path}: invalid YAML: {str(error).splitlines()[0]}") from None


def quiet_libraries() -> None:
    """Silence what transformers says that a user cannot act on (called before a command loads a model)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # Deprecation notices about transformers' own internals say nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


# The web stack (the `web` extra): the serving endpoint, the labeling app and the feedback store need it;
# training and evaluation do not. Module names as imported (python-multipart is `multipart`); jinja2 is not
# among them: chat templates need it, so it is a dependency of the package itself.
WEB_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "argon2", "multipart", "markdown_it")
WEB_EXTRA = "pip install 'posttrain[web]'"


def require_web(what: str) -> None:
    """One ``UserError`` line naming the extra when a package of the web stack is missing (nothing is imported)."""
    for name in WEB_MODULES:
        missing = sys.modules[name] is None if name in sys.modules else importlib.util.find_spec(name) is None
        if missing:
            raise UserError(f"{what} needs the web extra ({name} is not installed): {WEB_EXTRA}")


def write_text_atomic(path: str | Path, text: str, *, private: bool = False) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half.

    ``private=True`` (feedback data: prompts, answers, judgements) makes the file 0600 and the
    directories it creates 0700 instead of the umask's usual permissions.
    """
    path = Path(path)
    if private:
        from posttrain.feedback.files import make_private_dirs

        make_private_dirs(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if not private:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_staging_dir(target: Path) -> Path:
    """A temporary sibling directory of ``target`` with ordinary (umask) permissions."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())
    return staging
