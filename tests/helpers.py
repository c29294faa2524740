"""Test helpers: a tiny random Llama with a tiny trained BPE tokenizer and a ChatML template.

Built in a second inside the test session, so the suite never downloads anything.
"""

from __future__ import annotations

import contextlib
import json

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "What is 12 + 30? 12 + 30 = 42. Hello there! How are you today? I am fine, thank you.",
    "The quick brown fox jumps over the lazy dog. Answer: 7. Please explain step by step.",
    "user assistant system 0123456789 + - * / = ? ! . , : ; ( ) [ ] { } \" ' abcdefghijklmnopqrstuvwxyz",
]


def build_tiny_model_dir(path, vocab_size: int = 384, seed: int = 0, hidden_size: int = 32, heads: int = 4,
                         kv_heads: int = 2) -> str:
    """A tiny random Llama with a BPE tokenizer and a ChatML template, saved to ``path``. (vLLM's CPU
    attention needs a head size of at least 32: ``hidden_size=64, heads=2`` gives one.)"""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=1024, tie_word_embeddings=True,
        initializer_range=0.2,  # large enough that logits are far from uniform, so LoRA alone can fit
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def write_jsonl(path, rows) -> str:
    with open(path, "w") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return str(path)


def arithmetic_rows(count: int, seed: int = 0) -> list[dict]:
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b = rng.randint(1, 60), rng.randint(1, 60)
        answer = f"{a} + {b} = {a + b}." + " Answer: {}.".format(a + b) * rng.randint(0, 3)
        rows.append({"messages": [{"role": "user", "content": f"What is {a} + {b}?"}, {"role": "assistant", "content": answer}]})
    return rows


@contextlib.contextmanager
def serve_in_thread(config, model=None, tokenizer=None, scheduler=None, start_timeout: float = 20):
    """``(base_url, app)`` of a real ``posttrain serve`` app for ``config`` under uvicorn, on a free loopback port,
    in a thread, until the block ends; it loads the model (or starts vLLM) itself unless ``model`` is given."""
    import socket
    import threading
    import time

    import uvicorn

    from posttrain.serve.app import create_app
    from posttrain.serve.connections import server_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(config, model=model, tokenizer=tokenizer, scheduler=scheduler)
    server = uvicorn.Server(server_config(app, config, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=20)
