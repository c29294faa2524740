"""Export: GGUF files that transformers' GGUF loader reads back to the same logits and tokenizer,
the Ollama Modelfile, one-line errors, and adapters that name their base portably."""

import json
import subprocess
import sys

import pytest
import torch

from posttrain.errors import UserError
from posttrain.models.export import export

# Largest |logit difference| allowed after a GGUF round trip of the tiny model (its logits reach about 4).
# f32 stores the weights bit for bit; f16 rounds each to 11 significant bits (relative error <= 2**-11);
# q8_0 stores 32-value blocks as int8 times one f16 scale (error up to scale/2 = absmax/254 per weight).
# Measured on the tiny model: f32 0.0, f16 0.008, q8_0 0.16.
TOLERANCE = {"f32": 1e-5, "f16": 3e-2, "q8_0": 0.4}
PROMPT = [{"role": "user", "content": "What is 12 + 30? Please explain step by step."}]


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


@pytest.mark.parametrize("quantize", ["f32", "f16", "q8_0"])
def test_gguf_round_trip_through_transformers_loader(tiny_model, tmp_path, quantize):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    written = export(tiny_model, tmp_path, "gguf", quantize)
    assert written["gguf"] == tmp_path / "model.gguf"
    source, source_tokenizer = AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file="model.gguf", dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="model.gguf")

    text = source_tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False) + "12 + 30 = 42."
    ids = source_tokenizer(text)["input_ids"]
    assert tokenizer(text)["input_ids"] == ids  # vocab, merges and the special tokens came through
    assert tokenizer.chat_template == source_tokenizer.chat_template
    assert (tokenizer.eos_token, tokenizer.bos_token) == (source_tokenizer.eos_token, source_tokenizer.bos_token)
    expected, got = _logits(source, torch.tensor([ids])), _logits(loaded, torch.tensor([ids]))
    assert (expected - got).abs().max().item() <= TOLERANCE[quantize]
    if quantize != "f32":
        assert (expected - got).abs().max().item() > 0  # the weights really were stored narrower


def test_gguf_file_sizes_follow_the_quantization(tiny_model, tmp_path):
    sizes = {q: export(tiny_model, tmp_path / q, "gguf", q)["gguf"].stat().st_size for q in ("f32", "f16", "q8_0")}
    assert sizes["f32"] > sizes["f16"] > sizes["q8_0"]


def test_modelfile_is_chatml_with_stop_tokens(tiny_model, tmp_path):
    modelfile = export(tiny_model, tmp_path, "gguf")["modelfile"].read_text()
    assert modelfile.startswith("FROM ./model.gguf\n")
    assert "{{ range .Messages }}" in modelfile.replace("{{- range", "{{ range")
    assert "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>" in modelfile
    assert modelfile.rstrip().endswith('PARAMETER stop "<|im_start|>"\nPARAMETER stop "<|im_end|>"')
    assert "SYSTEM" not in modelfile  # the tiny model's template has no default system prompt


def test_modelfile_carries_a_default_system_prompt():
    from posttrain.models.export import ollama_modelfile

    class Tokenizer:
        eos_token = "<|im_end|>"
        chat_template = ("{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}"
                         "{% endif %}{% for m in messages %}{{ '<|im_start|>' + m['role'] }}{% endfor %}")

    assert 'SYSTEM """You are helpful."""' in ollama_modelfile(Tokenizer())


def test_hf_export_writes_a_loadable_directory(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    written = export(tiny_model, tmp_path, "hf", "f16")
    model = AutoModelForCausalLM.from_pretrained(written["model"])
    assert next(model.parameters()).dtype == torch.float16 and (written["model"] / "tokenizer.json").is_file()


def test_non_llama_model_is_refused_in_one_line(tiny_model, tmp_path):
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=384)).save_pretrained(tmp_path / "gpt2")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(UserError, match="Llama-architecture models only; this one is 'gpt2'"):
        export(str(tmp_path / "gpt2"), tmp_path / "out", "gguf")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "posttrain.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx"], "unknown export format 'onnx': choose one of hf, gguf"),
    (["--format", "gguf", "--quantize", "q4"], "unknown quantization 'q4'"),
    (["--quantize", "q8_0"], "q8_0 is for --format gguf"),
])
def test_cli_bad_options_are_one_line_errors(tiny_model, tmp_path, args, message):
    result = _cli("export", tiny_model, "--to", str(tmp_path / "out"), *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_cli_missing_model_is_one_line_error(tmp_path):
    result = _cli("export", str(tmp_path / "nope.gguf"), "--to", str(tmp_path / "out"), "--format", "gguf")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "model file not found" in result.stderr


def test_cli_gguf_export(tiny_model, tmp_path):
    result = _cli("export", tiny_model, "--to", str(tmp_path), "--format", "gguf", "--quantize", "q8_0")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model.gguf").is_file() and (tmp_path / "Modelfile").is_file()


def test_adapter_records_the_base_as_the_user_gave_it(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from posttrain.models.lora import save_final

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    save_final(model, AutoTokenizer.from_pretrained(tiny_model), tmp_path / "final", "adapter", base_spec="smollm2-135m")
    config = json.loads((tmp_path / "final" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "smollm2-135m"


def test_recipe_export_stage_writes_gguf_and_modelfile(tiny_model, tmp_path):
    import yaml

    from posttrain.pipeline.recipe import load_recipe
    from posttrain.pipeline.runner import plan, run_recipe

    recipe = {"name": "tiny", "model": tiny_model, "output_dir": str(tmp_path / "run"),
              "stages": [{"stage": "export", "format": "gguf", "quantize": "q8_0"}]}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_recipe(load_recipe(str(tmp_path / "recipe.yaml")))
    export_dir = tmp_path / "run" / "export"
    assert (export_dir / "model" / "config.json").is_file()
    assert (export_dir / "model.gguf").is_file() and (export_dir / "Modelfile").is_file()

    recipe["stages"] = [{"stage": "export", "quantize": "f16"}]  # hf keeps the trained weights as they are
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(UserError, match="quantize applies to the GGUF file"):
        plan(load_recipe(str(tmp_path / "recipe.yaml")))
