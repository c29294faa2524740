"""The ``posttrain`` command: one thin subcommand per stage.

    posttrain sft [CONFIG.yaml] [--key value ...]   supervised fine-tuning
    posttrain dpo [CONFIG.yaml] [--key value ...]   preference optimisation (DPO family)
    posttrain rm [CONFIG.yaml] [--key value ...]    reward model on preference pairs
    posttrain generate MODEL --prompt TEXT ...      chat generation
    posttrain models                                embedded models and where they are cached

Every config key of a stage is also a command-line option (``--lr 2e-5`` or ``--max-length
1024``); the command line wins over the YAML file. Mistakes in input end in one ``error:`` line.
"""

from __future__ import annotations

import json
import os
import sys
import types
import typing
from typing import Any, Literal

import click
from pydantic import BaseModel

from posttrain.errors import UserError


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _click_type(annotation) -> tuple[Any, dict]:
    """Map a pydantic field annotation to a click type (and extra option settings)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _click_type(inner[0])
    if origin is Literal:
        return click.Choice([str(value) for value in typing.get_args(annotation)]), {}
    if origin is tuple:
        return typing.get_args(annotation)[0], {"nargs": len(typing.get_args(annotation))}
    return annotation, {}


def config_options(config_cls: type[BaseModel]):
    """Add one ``--key`` option per config field; values left unset fall back to YAML/defaults."""

    def decorate(command):
        for name, field in reversed(list(config_cls.model_fields.items())):
            flag = "--" + name.replace("_", "-")
            help_text = f"{field.description} [default: {field.default}]"
            click_type, extra = _click_type(field.annotation)
            if click_type is bool:
                option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
            else:
                option = click.option(flag, name, type=click_type, default=None, help=help_text, **extra)
            command = option(command)
        return command

    return decorate


def _overrides(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None and value != ()}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="posttrain")
def cli() -> None:
    """posttrain: post-training for language models (SFT, preference learning, RL, evaluation)."""


from posttrain.config import DPOConfig, RMConfig, SFTConfig, load_config  # noqa: E402  (after the helpers above)


@cli.command()
@click.argument("config_file", required=False, type=click.Path())
@config_options(SFTConfig)
def sft(config_file: str | None, **options) -> None:
    """Supervised fine-tuning on chat demonstrations.

    CONFIG_FILE is an optional YAML file of the same keys as the options below.
    Example: posttrain sft recipes/sft_quickstart.yaml --max-steps 20
    """
    config = load_config(SFTConfig, config_file, _overrides(options))
    _quiet_libraries()
    from posttrain.algos.sft import train_sft

    summary = train_sft(config)
    click.echo(json.dumps(summary, indent=1))


@cli.command()
@click.argument("config_file", required=False, type=click.Path())
@config_options(DPOConfig)
def dpo(config_file: str | None, **options) -> None:
    """Preference optimisation: DPO (sigmoid), cDPO, IPO, SimPO, ORPO or KTO (--loss).

    Data: preference rows {"prompt", "chosen", "rejected"}; for --loss kto, unpaired rows
    {"prompt", "completion", "label"}. Example: posttrain dpo --data pairs.jsonl --beta 0.1
    """
    config = load_config(DPOConfig, config_file, _overrides(options))
    _quiet_libraries()
    from posttrain.algos.dpo import train_dpo

    click.echo(json.dumps(train_dpo(config), indent=1))


@cli.command()
@click.argument("config_file", required=False, type=click.Path())
@config_options(RMConfig)
def rm(config_file: str | None, **options) -> None:
    """Reward model: a scalar head trained on preference pairs (Bradley-Terry loss).

    Data: preference rows {"prompt", "chosen", "rejected"}, plus a per-pair margin field with
    --margin-key. Example: posttrain rm --data pairs.jsonl --output-dir runs/rm
    """
    config = load_config(RMConfig, config_file, _overrides(options))
    _quiet_libraries()
    from posttrain.algos.rm import train_rm

    click.echo(json.dumps(train_rm(config), indent=1))


@cli.command()
@click.argument("model")
@click.option("--prompt", "-p", "prompts", multiple=True, help="A user message; repeat for a batch.")
@click.option("--prompts-file", type=click.Path(), help="JSONL of rows with 'prompt' or 'messages'.")
@click.option("--system", default=None, help="System message put before each prompt.")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(0, 1, min_open=True))
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("-n", "--n", "samples", default=1, show_default=True, type=click.IntRange(min=1), help="Samples per prompt.")
@click.option("--stop", multiple=True, help="Stop string; repeatable.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per completion.")
def generate(model, prompts, prompts_file, system, max_tokens, temperature, top_p, top_k, samples, stop, seed, batch_size, as_json):
    """Chat with MODEL (embedded name, HF directory, .gguf file or hub id)."""
    from posttrain.data.formats import load_examples

    conversations = [[{"role": "user", "content": prompt}] for prompt in prompts]
    if prompts_file:
        conversations += [example.prompt_messages for example in load_examples(prompts_file, "prompts").examples]
    if not conversations:
        raise UserError("nothing to generate: give --prompt TEXT or --prompts-file FILE")
    if system:
        conversations = [[{"role": "system", "content": system}] + conv for conv in conversations]
    _quiet_libraries()
    from posttrain.models.loading import load_model, load_tokenizer
    from posttrain.rollout.generate import SamplingParams, generate_chat

    params = SamplingParams(
        max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, n=samples, stop=list(stop), seed=seed
    )
    tokenizer, language_model = load_tokenizer(model), load_model(model)
    for completion in generate_chat(language_model, tokenizer, conversations, params, batch_size=batch_size):
        if as_json:
            click.echo(json.dumps({
                "prompt_index": completion.prompt_index, "sample_index": completion.sample_index,
                "text": completion.text, "finish_reason": completion.finish_reason, "tokens": len(completion.token_ids),
            }))
        else:
            header = f"[{completion.prompt_index}" + (f".{completion.sample_index}]" if samples > 1 else "]")
            click.echo(f"{header} {completion.text}")


@cli.command()
@click.option("--prepare", is_flag=True, help="Convert and cache the embedded models now.")
def models(prepare: bool) -> None:
    """List the embedded models and their cache state."""
    from posttrain.models.loading import EMBEDDED, cache_dir, resolve

    for name, (package, filename, dirname) in EMBEDDED.items():
        target = cache_dir() / "models" / dirname
        if prepare:
            _quiet_libraries()
            resolve(name)
        state = "cached" if (target / "config.json").exists() else "not cached yet (converted on first use)"
        click.echo(f"{name}\t{dirname}, from {filename} in the {package.replace('_', '-')} package\t{state}: {target}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except UserError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted: the newest complete checkpoint resumes this run", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
