"""The OpenAI-compatible serving endpoint with feedback capture (``posttrain serve``).

``app`` (routes, errors, auth), ``protocol`` (request schemas), ``chat`` (messages to prompt ids,
model text to assistant messages and stream deltas), ``scheduler`` (continuous batching),
``vllm_scheduler`` (the same over vLLM), ``connections`` (uvicorn's connection timeouts),
``feedback`` (where served responses and feedback go), ``cli`` (the command). Needs the ``web`` extra.
"""
