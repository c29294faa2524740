"""LoRA adapters through peft, and saving the final model in Hugging Face format."""

from __future__ import annotations

import json
import os
import shutil
from functools import partial
from pathlib import Path

import torch

from posttrain.errors import UserError
from posttrain.util import make_staging_dir


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
        fuse_lora_linears(model)
        if config.gradient_checkpointing:
            model.enable_input_require_grads()
    else:
        for param in model.parameters():
            param.requires_grad_(True)
    return model


class _LoraLinear(torch.autograd.Function):
    """``x W^T + b + s (x A^T) B^T`` and its gradients, with the adapter's product accumulated
    into the base matmul's output (forward) and input gradient (backward) in place.

    peft computes the same as separate modules: a scaled copy of the adapter output, a sum, and
    in backward the matching scale, copy and sum of gradients, each a pass over an
    (tokens, features) tensor, for every adapted layer. Here only the rank-r products remain.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scale: float):
        flat = x.reshape(-1, x.shape[-1])  # (N, in)
        down = flat @ lora_a.t()  # (N, r)
        out = torch.nn.functional.linear(flat, weight, bias)  # (N, out)
        out.addmm_(down, lora_b.t(), alpha=scale)
        ctx.scale = scale
        ctx.has_bias = bias is not None
        ctx.save_for_backward(flat, down, weight, lora_a, lora_b)
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad_out):
        flat, down, weight, lora_a, lora_b = ctx.saved_tensors
        grad = grad_out.reshape(-1, grad_out.shape[-1])  # (N, out)
        need = ctx.needs_input_grad
        grad_down = (grad @ lora_b).mul_(ctx.scale)  # (N, r): gradient reaching x A^T, scale folded in
        grad_x = grad_weight = grad_bias = grad_a = grad_b = None
        if need[0]:
            grad_x = (grad @ weight).addmm_(grad_down, lora_a).view(*grad_out.shape[:-1], flat.shape[-1])
        if need[1]:
            grad_weight = grad.t() @ flat
        if ctx.has_bias and need[2]:
            grad_bias = grad.sum(0)
        if need[3]:
            grad_a = grad_down.t() @ flat  # (r, in)
        if need[4]:
            grad_b = (grad.t() @ down).mul_(ctx.scale)  # (out, r)
        return grad_x, grad_weight, grad_bias, grad_a, grad_b, None


def _fused_lora_forward(module, x, *args, **kwargs):
    """peft's LoRA ``Linear.forward`` for the common training case, else peft's own path."""
    adapters = module.active_adapters
    name = adapters[0] if len(adapters) == 1 else None
    if (args or kwargs or not torch.is_grad_enabled() or module.disable_adapters or module.merged
            or name not in module.lora_A or name in getattr(module, "lora_variant", {})
            or not isinstance(module.lora_dropout[name], torch.nn.Identity)
            or x.dtype != module.lora_A[name].weight.dtype):
        return type(module).forward(module, x, *args, **kwargs)
    base = module.base_layer
    return _LoraLinear.apply(x, base.weight, base.bias, module.lora_A[name].weight, module.lora_B[name].weight,
                             module.scaling[name])


def fuse_lora_linears(model) -> int:
    """Route the training forward of every plain LoRA ``Linear`` through :class:`_LoraLinear`.

    Anything else (dropout on the adapter input, DoRA, several or disabled adapters, merged
    weights, no gradient, as in generation) goes to peft's forward, decided per call. Off under
    torch.distributed, where sharded parameters are best left to peft's modules. Returns how
    many layers were routed.
    """
    from peft.tuners.lora import Linear as LoraLinear

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return 0
    count = 0
    for module in model.modules():
        if type(module) is LoraLinear and isinstance(module.base_layer, torch.nn.Linear):
            module.forward = partial(_fused_lora_forward, module)
            count += 1
    return count


def save_final(model, tokenizer, target: Path, save_format: str = "merged", dtype: torch.dtype | None = None,
               base_spec: str | None = None) -> list[Path]:
    """Save the trained model as Hugging Face directories, each written atomically.

    LoRA models are saved merged (a plain model ``AutoModelForCausalLM.from_pretrained`` loads),
    as an adapter, or both (``adapter`` beside the merged directory). Returns what was written.
    ``dtype``: the merged or full model's weights are saved in it (a bf16 run trains float32
    master weights and saves bf16); adapters stay float32. ``base_spec``: the base model as the
    user named it, recorded in ``adapter_config.json`` instead of the directory it was loaded from
    (for the embedded model, a cache path valid only on this machine).
    """
    target = Path(target)
    is_peft = hasattr(model, "peft_config")
    written = []
    if is_peft and save_format in ("adapter", "both"):
        adapter_dir = target if save_format == "adapter" else target.with_name(target.name + "-adapter")
        _atomic_dir(adapter_dir, lambda d: (model.save_pretrained(d), tokenizer.save_pretrained(d),
                                            _record_base(d, base_spec)))
        written.append(adapter_dir)
    if not is_peft or save_format in ("merged", "both"):
        merged = _merged_copy(model) if is_peft else model
        if dtype is not None and next(merged.parameters()).dtype != dtype:
            import copy

            merged = (merged if is_peft else copy.deepcopy(merged)).to(dtype)  # never the training model itself
        _atomic_dir(target, lambda d: (merged.save_pretrained(d), tokenizer.save_pretrained(d)))
        written.append(target)
    return written


def _record_base(adapter_dir: Path, base_spec: str | None) -> None:
    if base_spec is None:
        return
    config_path = Path(adapter_dir) / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_spec
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


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
