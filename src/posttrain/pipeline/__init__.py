"""Recipes (``posttrain run``), export, and the feedback-driven retraining loop (``posttrain loop``)."""
