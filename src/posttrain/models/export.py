"""Export a model as a Hugging Face directory or as a GGUF file with an Ollama ``Modelfile``.

    posttrain export runs/sft/final --to out/ --format gguf --quantize q8_0
    ollama create mymodel -f out/Modelfile

The GGUF writer follows llama.cpp's ``convert_hf_to_gguf.py`` for Llama models (tensor names,
metadata keys, the q/k row permutation), written here against the ``gguf`` package's ``GGUFWriter``.
The byte-level BPE tokenizer (tokens, token types, merges, special ids) and the chat template go
inside the file, so llama.cpp, Ollama and transformers' GGUF loader need nothing beside it.
Only Llama-architecture models with a byte-level BPE tokenizer are supported (SmolLM2, the tests'
tiny Llama); anything else is refused with one line.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from posttrain.errors import UserError

FORMATS = ("hf", "gguf")
QUANTIZATIONS = ("f32", "f16", "q8_0")

# Hugging Face Llama parameter name (after "model.layers.N.") -> llama.cpp tensor name (after "blk.N.").
_LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}
_TOP_NAMES = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}


def check_options(format: str, quantize: str | None) -> None:
    if format not in FORMATS:
        raise UserError(f"unknown export format '{format}': choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UserError(f"unknown quantization '{quantize}': choose one of {', '.join(QUANTIZATIONS)}")
    if format == "hf" and quantize == "q8_0":
        raise UserError("--quantize q8_0 is for --format gguf; a Hugging Face export takes f32 or f16")


def export(spec: str, target: Path, format: str = "hf", quantize: str | None = None) -> dict[str, Path]:
    """Write the model ``spec`` names (any spec ``load_model`` takes; an adapter is merged) into ``target``."""
    from posttrain.models.loading import load_model, load_tokenizer

    check_options(format, quantize)
    model = load_model(spec)
    tokenizer = load_tokenizer(spec)
    target.mkdir(parents=True, exist_ok=True)
    if format == "hf":
        staging = target / ".model.partial"
        shutil.rmtree(staging, ignore_errors=True)
        if quantize == "f16":
            model = model.to(torch.float16)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        final = target / "model"
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        return {"model": final}
    return _gguf_and_modelfile(model, tokenizer, target, quantize or "f16", name=Path(spec).name or spec)


def write_gguf_with_modelfile(model_dir: Path, target: Path, quantize: str = "f16", name: str = "model") -> dict[str, Path]:
    """``target/model.gguf`` and ``target/Modelfile`` from a Hugging Face model directory (the recipe's export stage)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return _gguf_and_modelfile(model, AutoTokenizer.from_pretrained(model_dir), target, quantize, name)


def _gguf_and_modelfile(model, tokenizer, target: Path, quantize: str, name: str) -> dict[str, Path]:
    gguf_path = write_gguf(model, tokenizer, target / "model.gguf", quantize, name=name)
    modelfile = target / "Modelfile"
    modelfile.write_text(ollama_modelfile(tokenizer, gguf_path.name))
    return {"gguf": gguf_path, "modelfile": modelfile}


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary layout: HF keeps the two rotary halves of each head apart, GGUF interleaves them
    (convert_hf_to_gguf.py LlamaModel.permute; transformers' GGUF loader undoes it)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def gguf_tensors(model) -> list[tuple[str, np.ndarray]]:
    """``(gguf name, float32 array)`` for every weight of a Llama model, in llama.cpp's naming."""
    config = model.config
    tied = getattr(config, "tie_word_embeddings", False)
    tensors = []
    for name, tensor in model.state_dict().items():
        if name.endswith("rotary_emb.inv_freq") or (tied and name == "lm_head.weight"):
            continue
        stem, suffix = name.rsplit(".", 1)  # suffix: weight or bias
        layer = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", stem)
        if layer and layer.group(2) in _LAYER_NAMES:
            gguf_name = f"blk.{layer.group(1)}.{_LAYER_NAMES[layer.group(2)]}.{suffix}"
        elif stem in _TOP_NAMES:
            gguf_name = f"{_TOP_NAMES[stem]}.{suffix}"
        else:
            raise UserError(f"GGUF export: no llama.cpp name for the weight '{name}'")
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if gguf_name.startswith("blk.") and ".attn_q." in gguf_name:
            array = _permute(array, config.num_attention_heads)
        elif gguf_name.startswith("blk.") and ".attn_k." in gguf_name:
            array = _permute(array, config.num_key_value_heads)
        tensors.append((gguf_name, array))
    return tensors


def _tokenizer_metadata(tokenizer, vocab_size: int) -> dict:
    """Tokens in id order with llama.cpp token types, merges and the pre-tokenizer name."""
    import gguf

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    if model.get("type") != "BPE" or not _is_byte_level(state):
        raise UserError("GGUF export supports byte-level BPE tokenizers only (GPT-2 style, as SmolLM2 and Llama 3 use)")
    pre = _pre_tokenizer_name(state.get("pre_tokenizer"))
    id_to_token = {index: token for token, index in tokenizer.get_vocab().items()}
    added = {entry["id"]: entry for entry in state.get("added_tokens", [])}
    tokens, types = [], []
    for index in range(vocab_size):
        if index not in id_to_token:  # the embedding is padded past the tokenizer: llama.cpp's placeholder
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(id_to_token[index])
            types.append(gguf.TokenType.CONTROL if added[index].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(id_to_token[index])
            types.append(gguf.TokenType.NORMAL)
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]
    return {"tokens": tokens, "types": types, "merges": merges, "pre": pre}


def _is_byte_level(state: dict) -> bool:
    return '"ByteLevel"' in json.dumps(state.get("pre_tokenizer")) or '"ByteLevel"' in json.dumps(state.get("decoder"))


def _pre_tokenizer_name(pre_tokenizer: dict | None) -> str:
    """llama.cpp's name for how text is split before BPE: GPT-2's regex, or SmolLM's digits-apart variant."""
    parts = pre_tokenizer.get("pretokenizers", []) if pre_tokenizer and pre_tokenizer["type"] == "Sequence" else [pre_tokenizer]
    kinds = [part["type"] for part in parts if part]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    raise UserError(f"GGUF export: unsupported pre-tokenizer {kinds or 'none'} (supported: GPT-2 byte level, SmolLM)")


def _tensor_type(array: np.ndarray, quantize: str):
    """The storage type of one tensor: norms and other 1-D weights stay f32, as llama.cpp keeps them."""
    import gguf

    if quantize == "f32" or array.ndim < 2:
        return gguf.GGMLQuantizationType.F32
    if quantize == "q8_0" and array.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        return gguf.GGMLQuantizationType.Q8_0
    return gguf.GGMLQuantizationType.F16  # f16, or q8_0 rows that don't fill whole 32-value blocks


def write_gguf(model, tokenizer, path: Path, quantize: str = "f16", name: str = "model") -> Path:
    """Write a Llama model and its tokenizer as one GGUF file (staged beside ``path``, renamed in)."""
    import gguf

    config = model.config
    if getattr(config, "model_type", None) != "llama":
        raise UserError(f"GGUF export supports Llama-architecture models only; this one is '{config.model_type}'")
    rope_type = (getattr(config, "rope_scaling", None) or {}).get("rope_type", "default")
    if rope_type != "default" or getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise UserError("GGUF export: Llama models with rope scaling or biases are not supported yet")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[quantize]
    vocab = _tokenizer_metadata(tokenizer, config.vocab_size)

    staging = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(staging, "llama")
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(float(_rope_theta(config)))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // config.num_attention_heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["types"])
    writer.add_token_merges(vocab["merges"])
    for add, token_id in ((writer.add_bos_token_id, tokenizer.bos_token_id), (writer.add_eos_token_id, tokenizer.eos_token_id),
                          (writer.add_unk_token_id, tokenizer.unk_token_id), (writer.add_pad_token_id, tokenizer.pad_token_id)):
        if token_id is not None:
            add(token_id)
    # Whether encoding adds BOS: what the HF tokenizer does, so llama.cpp tokenizes prompts alike.
    probe = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id)
    writer.add_add_space_prefix(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)

    for gguf_name, array in gguf_tensors(model):
        kind = _tensor_type(array, quantize)
        if kind == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(gguf_name, array)
        elif kind == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(gguf_name, array.astype(np.float16))
        else:
            writer.add_tensor(gguf_name, gguf.quants.quantize(array, kind), raw_dtype=kind)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        staging.rename(path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path


def _rope_theta(config) -> float:
    theta = getattr(config, "rope_theta", None)
    if theta is None:  # newer transformers keep it in rope_parameters
        theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    return theta


# Ollama's Go template for ChatML: the system prompt, then each turn, then the open assistant turn.
_CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range .Messages }}{{ if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}{{ end }}<|im_start|>assistant
"""


def ollama_modelfile(tokenizer, gguf_name: str = "model.gguf") -> str:
    """An Ollama ``Modelfile`` for the exported GGUF: ``ollama create NAME -f Modelfile``.

    ChatML templates (SmolLM2, the tests' tiny model) are written as Ollama's Go template, with the
    default system prompt the Jinja template injects (if any) as ``SYSTEM``; other templates are left
    to Ollama, which reads the Jinja template inside the GGUF file.
    """
    lines = [f"FROM ./{gguf_name}", ""]
    template = tokenizer.chat_template or ""
    if "<|im_start|>" in template:
        lines += [f'TEMPLATE """{_CHATML_TEMPLATE}"""', ""]
        default_system = re.search(r"<\|im_start\|>system(?:\\n|\n)([^{}]+?)<\|im_end\|>", template)
        if default_system:
            lines += [f'SYSTEM """{default_system.group(1)}"""', ""]
        stops = ["<|im_start|>", "<|im_end|>"]
    else:
        lines += ["# The chat template inside the GGUF file is used.", ""]
        stops = []
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    return "\n".join(lines) + "\n"
