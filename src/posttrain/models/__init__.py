"""Models: ``loading`` (embedded name, HF directory, adapter directory, .gguf file or hub id), ``lora``
(adapters, and saving the final model merged or as an adapter), ``logprobs`` (per-token log-probs
without full-vocabulary logits), ``segment_attention`` (attention of packed rows segment by segment),
``reward`` (a causal LM with a scalar head) and ``export`` (merged HF directory, GGUF with an Ollama
Modelfile).
"""
