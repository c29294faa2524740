"""LoRA adapters through peft, and saving the final model in Hugging Face format."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from posttrain.config import make_staging_dir
from posttrain.errors import UserError


def apply_lora(model, config, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None):
    """Wrap ``model`` with LoRA adapters; only the adapters (and ``modules_to_save``) train."""
    from peft import LoraConfig, get_peft_model

    targets = "all-linear" if config.lora_targets == "all-linear" else [t.strip() for t in config.lora_targets.split(",")]
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=targets, task_type=task_type, modules_to_save=modules_to_save,
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as error:
        raise UserError(f"lora_targets: {str(error).splitlines()[0]}") from None


def prepare_model(model, config, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None):
    """Apply the fine-tuning mode (LoRA or full) and gradient checkpointing.

    A reward model passes ``task_type="SEQ_CLS"`` and ``modules_to_save=["score"]`` so its new
    head trains in full beside the adapters and is merged into the saved model.
    """
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if config.finetune == "lora":
        model = apply_lora(model, config, task_type, modules_to_save)
        if config.gradient_checkpointing:
            model.enable_input_require_grads()
    else:
        for param in model.parameters():
            param.requires_grad_(True)
    return model


def save_final(model, tokenizer, target: Path, save_format: str = "merged") -> list[Path]:
    """Save the trained model as Hugging Face directories, each written atomically.

    LoRA models are saved merged (a plain model ``AutoModelForCausalLM.from_pretrained`` loads),
    as an adapter, or both (``adapter`` beside the merged directory). Returns what was written.
    """
    target = Path(target)
    is_peft = hasattr(model, "peft_config")
    written = []
    if is_peft and save_format in ("adapter", "both"):
        adapter_dir = target if save_format == "adapter" else target.with_name(target.name + "-adapter")
        _atomic_dir(adapter_dir, lambda d: (model.save_pretrained(d), tokenizer.save_pretrained(d)))
        written.append(adapter_dir)
    if not is_peft or save_format in ("merged", "both"):
        merged = _merged_copy(model) if is_peft else model
        _atomic_dir(target, lambda d: (merged.save_pretrained(d), tokenizer.save_pretrained(d)))
        written.append(target)
    return written


def _merged_copy(peft_model):
    """A plain model with the adapters folded in, leaving the training model untouched."""
    import copy

    return copy.deepcopy(peft_model).merge_and_unload()


def _atomic_dir(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(target)
    try:
        write(staging)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@torch.no_grad()
def count_parameters(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
