"""Command-line options made from typed configs, so that a command and its config cannot drift apart.

    @config_options(SFTConfig)                 every key as --key, unset ones fall back to YAML and defaults
    @field_options(ServeConfig, ["host", ...]) the named fields as options with their defaults and bounds

Each option's type comes from the field's annotation (``Literal`` -> a choice, ``list`` -> repeatable,
``tuple`` -> several values, ``bool`` -> ``--key/--no-key``), its range from the field's ``ge``/``gt``/``le``/``lt``
and its help from the field's description.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types
import click
from pydantic import BaseModel


def click_type(annotation) -> tuple[Any, dict]:
    """Map a pydantic field annotation to a click type (and extra option settings)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return click_type(inner[0])
    if origin is Literal:
        return click.Choice([str(value) for value in typing.get_args(annotation)]), {}
    if origin is tuple:
        return typing.get_args(annotation)[0], {"nargs": len(typing.get_args(annotation))}
    if origin is list:
        return typing.get_args(annotation)[0], {"multiple": True}
    return annotation, {}


def config_options(config_cls: type[BaseModel]):
    """Add one ``--key`` option per config field; values left unset fall back to YAML/defaults."""

    def decorate(command):
        for name, field in reversed(list(config_cls.model_fields.items())):
            flag = "--" + name.replace("_", "-")
            default = field.default_factory() if field.default_factory is not None else field.default
            help_text = f"{field.description} [default: {default}]"
            kind, extra = click_type(field.annotation)
            if kind is bool:
                option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
            else:
                option = click.option(flag, name, type=kind, default=None, help=help_text, **extra)
            command = option(command)
        return command

    return decorate


def _bounded(kind: Any, metadata: list) -> Any:
    """``int``/``float`` with the field's bounds as a click range; other types unchanged."""
    bounds: dict[str, Any] = {}
    for constraint in metadata:
        if isinstance(constraint, annotated_types.Ge):
            bounds["min"] = constraint.ge
        elif isinstance(constraint, annotated_types.Gt) and kind is int:
            bounds["min"] = constraint.gt + 1  # an integer above n is one of at least n + 1
        elif isinstance(constraint, annotated_types.Gt):
            bounds.update(min=constraint.gt, min_open=True)
        elif isinstance(constraint, annotated_types.Le):
            bounds["max"] = constraint.le
        elif isinstance(constraint, annotated_types.Lt):
            bounds.update(max=constraint.lt, max_open=True)
    if not bounds or kind not in (int, float):
        return kind
    return click.IntRange(**bounds) if kind is int else click.FloatRange(**bounds)


def field_options(config_cls: type[BaseModel], names: list[str], **settings: dict[str, Any]):
    """One option per named field, in that order, with the field's default shown; ``settings[name]``
    overrides click settings of one option (``flag``, ``type``, ``help``, ...)."""

    def decorate(command):
        for name in reversed(names):
            field = config_cls.model_fields[name]
            own = dict(settings.get(name, {}))
            flag = own.pop("flag", "--" + name.replace("_", "-"))
            kind, extra = click_type(field.annotation)
            default = field.default_factory() if field.default_factory is not None else field.default
            options = {"help": field.description, **extra, **own}
            if kind is bool:
                command = click.option(f"{flag}/--no-{flag[2:]}", name, default=default, show_default=True,
                                       **options)(command)
                continue
            options.setdefault("type", _bounded(kind, field.metadata))
            if default is not None and not extra.get("multiple"):
                options.setdefault("default", default)
                options.setdefault("show_default", True)
            command = click.option(flag, name, **options)(command)
        return command

    return decorate
