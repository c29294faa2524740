"""posttrain: turn a pretrained language model into a helpful, safe assistant.

The data flow (ARCHITECTURE.md at the repository root draws it): ``data`` (conversations, the one
``render`` of ids and loss mask, readers, formats, batching) -> ``models`` (loading, LoRA, log-probs,
saving, export) -> ``losses`` (pure tensor functions) -> ``algos`` (one training loop per algorithm,
on the shared pieces of ``training``) -> ``pipeline`` (recipes, the run directory, the feedback loop).
Beside it: ``rollout`` (generation, engines, tool calls, episodes), ``rewards``, ``sandbox`` (model-
written code), ``eval`` (suites, reports, gate), ``serve`` (the OpenAI-compatible server),
``feedback`` (records and the store) and ``label`` (the labeling app).

Top-level modules: ``cli`` (the ``posttrain`` command), ``registry`` (every trainer with its config
and function: the commands and recipe stages are built from it), ``config`` (typed configs),
``util`` (atomic writes, "did you mean", YAML files, the web extra check), ``errors``, ``imports``
(``module:function`` specs in configs).
"""

__version__ = "0.1.0"
