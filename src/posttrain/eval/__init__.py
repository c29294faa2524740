"""Evaluation: capability suites scored on a model's answers, with bootstrap intervals.

- ``suite``: the :class:`~posttrain.eval.suite.Suite` protocol, the registry of built-in suites and
  user suites (``file.jsonl:module:function``).
- ``suites/``: one module per built-in suite (math, instruction-following, safety, red-team, everyday,
  seeds, tool-use, multi-turn, style, code, helpfulness), each owning its data file, generation
  settings and scoring.
- ``generation``: how a suite's items become model answers (batched, greedy, with tools).
- ``refusal``: the rule-based refusal classifier the safety, red-team, everyday and seeds suites use,
  measured on hand-labelled answers (``data/refusal_labels.py``).
- ``gate``: the regression gate: allowances against a baseline, and absolute bounds.
- ``stats``: seeded percentile-bootstrap confidence intervals.
- ``run``: :func:`~posttrain.eval.run.evaluate` and the result JSON behind ``posttrain eval``.
- ``data/``: the bundled eval items and their data card (the generator is ``datagen/make_eval.py``).

Run it as ``posttrain eval smollm2-135m --suite math safety --out result.json``.
"""
