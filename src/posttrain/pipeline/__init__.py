"""Pipelines: ``recipe`` (the recipe file and its stage configs), ``stages`` (what each kind of stage
does, the executors built from :data:`posttrain.registry.TRAINERS` plus eval, gate and export),
``runner`` (plan, dry-run checks, the resumable run directory and its manifest: ``posttrain run``)
and ``loop`` (one feedback-driven retraining round: ``posttrain loop``).
"""
