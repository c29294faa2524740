"""Rollout: sampling answers from a model for RL, rejection sampling, evaluation and the server.

``generate`` (batched sampling and its parameters), ``kv_cache`` (the running batch and an in-place
KV cache), ``engine`` (the interface trainers sample through and the in-process engine),
``vllm_engine`` (a colocated vLLM engine, the ``vllm`` extra), ``tools`` (the tool-call contract:
prompt, call format, parsing, template detection, execution) and ``episode`` (multi-turn episodes
with tool calls).
"""
