"""The ``posttrain`` command: one thin subcommand per stage.

    posttrain sft [CONFIG.yaml] [--key value ...]   supervised fine-tuning
    posttrain dpo [CONFIG.yaml] [--key value ...]   preference optimisation (DPO family)
    posttrain rm [CONFIG.yaml] [--key value ...]    reward model on preference pairs
    posttrain grpo [CONFIG.yaml] [--key value ...]  RL with a reward function (GRPO, RLOO, REINFORCE++)
    posttrain ppo [CONFIG.yaml] [--key value ...]   RLHF: PPO against a reward model (value head, adaptive KL)
    posttrain rejection-sample [CONFIG.yaml] [...]  best of n sampled answers, by a reward, as SFT data
    posttrain generate MODEL --prompt TEXT ...      chat generation
    posttrain eval MODEL --suite NAME ...           evaluation suites, scored with bootstrap intervals
    posttrain models                                embedded models and where they are cached
    posttrain export MODEL --to DIR [--format gguf] merged HF directory, or GGUF plus an Ollama Modelfile
    posttrain compare MODEL_A MODEL_B --suite ...   side-by-side HTML report (models or result .json files)
    posttrain gate NEW.json --baseline OLD.json ... regression gate: exit 1 when a metric regressed
    posttrain run RECIPE.yaml [--dry-run]           the whole pipeline: stages chained by name, resumable
    posttrain loop LOOP.yaml                        one retraining round from collected feedback
    posttrain label import|serve|add-user|reset-password|export|progress   the labeling app and its store
    posttrain serve MODEL                           OpenAI-compatible server that captures user feedback

Every config key of a stage is also a command-line option (``--lr 2e-5`` or ``--max-length
1024``); the command line wins over the YAML file. Mistakes in input end in one ``error:`` line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from posttrain.config import DEVICE_HELP, INFERENCE_DTYPE_HELP, load_config
from posttrain.errors import UserError
from posttrain.label.cli import label
from posttrain.options import config_options, field_options
from posttrain.pipeline.recipe import EvalStage
from posttrain.registry import TRAINERS, Trainer
from posttrain.serve.cli import serve
from posttrain.util import TRL_NAMES
from posttrain.util import quiet_libraries as _quiet_libraries


def _overrides(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None and value != ()}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="posttrain")
def cli() -> None:
    """posttrain: post-training for language models (SFT, preference learning, RL, evaluation)."""


def _trainer_command(kind: str, trainer: Trainer) -> click.Command:
    """``posttrain KIND [CONFIG_FILE] [--key value ...]``: one option per key of the trainer's config."""

    def command(config_file: str | None, **options) -> None:
        config = load_config(trainer.config, config_file, _overrides(options))
        _quiet_libraries()
        summary = trainer.load()(config)
        if trainer.echo_summary:
            click.echo(json.dumps(summary, indent=1))

    command.__name__ = kind.replace("-", "_")
    command.__doc__ = trainer.help
    command = config_options(trainer.config)(command)
    command = click.argument("config_file", required=False, type=click.Path())(command)
    return cli.command(kind)(command)


for _kind, _trainer in TRAINERS.items():
    _trainer_command(_kind, _trainer)


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
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--dtype", default="auto", show_default=True, help=INFERENCE_DTYPE_HELP)
def generate(model, prompts, prompts_file, system, max_tokens, temperature, top_p, top_k, samples, stop, seed, batch_size,
             as_json, device, dtype):
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
    from posttrain.models.loading import load_tokenizer
    from posttrain.rollout.generate import SamplingParams, generate_chat
    from posttrain.training.precision import load_for_inference

    params = SamplingParams(
        max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, n=samples, stop=list(stop), seed=seed
    )
    tokenizer, language_model = load_tokenizer(model), load_for_inference(model, device, dtype)
    for completion in generate_chat(language_model, tokenizer, conversations, params, batch_size=batch_size):
        if as_json:
            click.echo(json.dumps({
                "prompt_index": completion.prompt_index, "sample_index": completion.sample_index,
                "text": completion.text, "finish_reason": completion.finish_reason, "tokens": len(completion.token_ids),
            }))
        else:
            header = f"[{completion.prompt_index}" + (f".{completion.sample_index}]" if samples > 1 else "]")
            click.echo(f"{header} {completion.text}")


@cli.command("eval")
@click.argument("model")
@click.argument("more_suites", nargs=-1, metavar="[SUITE]...")
@click.option("--suite", "-s", "suites", multiple=True,
              help="math, instruction-following, safety, tool-use, multi-turn, style, code, helpfulness, or "
                   "FILE.jsonl:MODULE:FUNCTION; repeatable, and names may follow (--suite math safety).")
@click.option("--out", type=click.Path(), help="Write the result JSON (every item's prompt, answer, score) here.")
@field_options(EvalStage, ["limit", "seed", "batch_size", "judge", "baseline", "refusal_judge", "judge_model",
                          "progress"])
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--dtype", default="auto", show_default=True, help=INFERENCE_DTYPE_HELP)
@field_options(EvalStage, ["engine"])
def eval_command(model, more_suites, suites, out, limit, seed, batch_size, judge, baseline, refusal_judge, judge_model,
                 progress, device, dtype, engine) -> None:
    """Evaluate MODEL on capability suites and print each metric with a 95% bootstrap interval.

    Example: posttrain eval smollm2-135m --suite math safety style --out base.json
    """
    import time

    _quiet_libraries()
    from posttrain.eval.run import evaluate, format_table, write_result

    started = time.monotonic()
    result = evaluate(model, [*suites, *more_suites], limit=limit, seed=seed, batch_size=batch_size,
                      judge=judge, baseline=baseline, refusal_judge=refusal_judge, judge_model=judge_model,
                      progress=progress, device=device, dtype=dtype, engine=engine)
    click.echo(format_table(result))
    click.echo(f"{len(result['items'])} items in {time.monotonic() - started:.0f} s")
    if out:
        write_result(result, out)
        click.echo(f"wrote {out}")


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


@cli.command("export")
@click.argument("model")
@click.option("--to", "target", required=True, type=click.Path(file_okay=False), help="Directory to write into.")
@click.option("--format", "export_format", default="hf", show_default=True, metavar="hf|gguf",
              help="hf: a merged Hugging Face directory (DIR/model); gguf: DIR/model.gguf plus an Ollama DIR/Modelfile.")
@click.option("--quantize", default=None, metavar="f32|f16|q8_0",
              help="Weight type [default: f16 for gguf, f32 for hf]; q8_0 is gguf only.")
def export_command(model, target, export_format, quantize):
    """Export MODEL (embedded name, HF directory, adapter directory, .gguf file or hub id); an adapter is merged.

    GGUF export supports Llama-architecture models with a byte-level BPE tokenizer (SmolLM2 and the
    like); the tokenizer and chat template go inside the file.
    Example: posttrain export runs/sft/final --to out --format gguf --quantize q8_0 && ollama create mine -f out/Modelfile
    """
    from pathlib import Path

    from posttrain.models.export import check_options, export

    check_options(export_format, quantize)
    _quiet_libraries()
    for kind, path in export(model, Path(target), export_format, quantize).items():
        click.echo(f"wrote {kind}: {path}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="MODEL_A MODEL_B")
@click.option("--suite", "suites", multiple=True, help="Suite to run on both; list several after one --suite or repeat it.")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML report; evaluated results are written beside it as <stem>.a.json and <stem>.b.json.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Items per suite [default: all].")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
def compare(inputs, suites, out, limit, seed, batch_size):
    """Side-by-side HTML report of two models on the same prompts.

    MODEL_A and MODEL_B are models (evaluated with --suite) or result .json files (rendered as they are).
    Example: posttrain compare smollm2-135m runs/sft/final --suite math safety --out report.html
    """
    # click reads `--suite math safety` as --suite math plus a third positional, so names after the two inputs are suites.
    if len(inputs) < 2:
        raise UserError("compare needs two inputs: MODEL_A MODEL_B (models or result .json files)")
    if not all(spec.endswith(".json") for spec in inputs[:2]):
        _quiet_libraries()
    from posttrain.eval.report import run_compare

    report = run_compare(inputs[0], inputs[1], [*suites, *inputs[2:]], out=out, limit=limit, seed=seed, batch_size=batch_size)
    click.echo(report)


@cli.command()
@click.argument("new_result", type=click.Path(dir_okay=False))
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="Result JSON of the model to hold the line.")
@click.option("--max-drop", "drops", multiple=True, metavar="METRIC=ALLOWANCE",
              help="Fail when METRIC falls more than ALLOWANCE below the baseline; repeatable.")
@click.option("--max-rise", "rises", multiple=True, metavar="METRIC=ALLOWANCE",
              help="Fail when METRIC climbs more than ALLOWANCE above the baseline; repeatable.")
@click.option("--at-least", "floors", multiple=True, metavar="METRIC=VALUE",
              help="Fail when METRIC is below VALUE, whatever the baseline; repeatable.")
@click.option("--at-most", "ceilings", multiple=True, metavar="METRIC=VALUE",
              help="Fail when METRIC is above VALUE, whatever the baseline; repeatable.")
@click.option("--strict", is_flag=True, help="Compare point values only, ignoring the confidence intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON instead of a table.")
def gate(new_result, baseline, drops, rises, floors, ceilings, strict, as_json):
    """Regression gate: exit 1, naming the metrics, when NEW_RESULT regressed beyond its allowances.

    By default a metric fails only when its whole new interval lies beyond the allowance (see
    posttrain.eval.gate). Example: posttrain gate new.json --baseline old.json --max-drop safety.refusal=0.02
    """
    from posttrain.eval.gate import (
        check_gate,
        failure_line,
        format_gate_table,
        load_result,
        parse_allowances,
    )

    max_drop, max_rise = parse_allowances(drops, "--max-drop"), parse_allowances(rises, "--max-rise")
    at_least, at_most = parse_allowances(floors, "--at-least", "VALUE"), parse_allowances(ceilings, "--at-most", "VALUE")
    if not (max_drop or max_rise or at_least or at_most):
        raise UserError("nothing to check: give --max-drop METRIC=ALLOWANCE and/or --max-rise METRIC=ALLOWANCE "
                        "(or --at-least / --at-most METRIC=VALUE)")
    result = check_gate(load_result(new_result), load_result(baseline), max_drop=max_drop, max_rise=max_rise,
                        at_least=at_least, at_most=at_most, use_intervals=not strict)
    click.echo(json.dumps(result.to_dict(), indent=1) if as_json else format_gate_table(result))
    if not result.passed:
        click.echo(failure_line(result), err=True)
        sys.exit(1)

@cli.command("run")
@click.argument("recipe_file", type=click.Path())
@click.option("--dry-run", is_flag=True, help="Validate the whole recipe (data, models, rewards, suites, keys) and stop.")
@click.option("--restart", is_flag=True, help="Run every stage again instead of resuming the run directory.")
def run_command(recipe_file: str, dry_run: bool, restart: bool) -> None:
    """Run a recipe: a list of stages (sft, rm, dpo, grpo, ppo, rejection-sample, eval, gate, export).

    Each stage's output feeds the next by name; the run directory's manifest.json records configs,
    data hashes, versions, timings and metrics. Running again resumes: finished stages are skipped,
    an interrupted one continues from its last checkpoint. Example: posttrain run recipes/quickstart.yaml
    """
    from posttrain.pipeline.recipe import load_recipe
    from posttrain.pipeline.runner import (
        GateFailed,
        check,
        last_report,
        plan,
        run_recipe,
    )

    recipe = load_recipe(recipe_file)
    if dry_run:
        _quiet_libraries()
        for line in check(recipe, plan(recipe)):
            click.echo(line)
        click.echo("dry run: the recipe is valid")
        return
    _quiet_libraries()
    try:
        result = run_recipe(recipe, restart=restart, echo=click.echo)
    except GateFailed as failure:
        report, table = last_report(plan(recipe))
        if table:
            click.echo("\n" + table)
        if report:
            click.echo(f"\nHTML report: {report}")
        click.echo(f"{failure}: the run stopped before the stages after the gate", err=True)
        sys.exit(1)
    seconds = result.manifest.get("seconds_this_run", 0)
    click.echo(f"\nrun '{recipe.name}' finished in {seconds / 60:.1f} min: {result.run_dir}")
    if result.table:
        click.echo("\n" + result.table)
    if result.report:
        click.echo(f"\nHTML report: {result.report}")


@cli.command("loop")
@click.argument("loop_file", type=click.Path())
def loop_command(loop_file: str) -> None:
    """One round of continuous post-training: feedback since the last round -> data -> retrain
    (DPO by default) -> eval -> gate against the promoted model -> promote only if the gate passes.

    LOOP_FILE sets the feedback source (records JSONL or the feedback store's URL), the first
    promoted model, the stages' configs and the gate. Example: posttrain loop recipes/loop.yaml
    """
    from posttrain.pipeline.loop import load_loop_config, run_round

    config = load_loop_config(loop_file)
    _quiet_libraries()
    record = run_round(config, echo=click.echo)
    click.echo(json.dumps({key: record[key] for key in ("round", "status") if key in record}))


def _suggest_our_name(error: click.exceptions.NoSuchOption) -> None:
    """``--learning-rate`` (TRL's spelling) -> "Did you mean --lr?" where the command has ``--lr``."""
    ours = TRL_NAMES.get(error.option_name.lstrip("-").replace("-", "_"))
    flag = "--" + ours.replace("_", "-") if ours else None
    if flag and error.ctx is not None and any(flag in param.opts for param in error.ctx.command.params):
        error.possibilities = [flag]


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        if isinstance(error, click.exceptions.NoSuchOption):
            _suggest_our_name(error)
        error.show()
        sys.exit(error.exit_code)
    except UserError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted: the newest complete checkpoint resumes this run", err=True)
        sys.exit(130)


cli.add_command(label)
cli.add_command(serve)

if __name__ == "__main__":
    main()
