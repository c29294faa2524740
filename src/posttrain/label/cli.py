"""``posttrain label``: build labeling campaigns, run the labeling app, export what reviewers said.

    posttrain label add-user NAME [--admin] [--db URL]             an account (asks for the password)
    posttrain label reset-password NAME [--db URL]                  a new password (asked for, or read
                                                                    from stdin); ends NAME's sessions
    posttrain label import --campaign C --prompts FILE --model M1 --model M2 [--db URL]
    posttrain label import --campaign C --prompts FILE --answers a.jsonl --answers b.jsonl
    posttrain label serve [--db URL] [--host H] [--port P] [--trusted-proxy ADDR]   the web app
    posttrain label progress [--db URL]                             items done, agreement
    posttrain label export --format records|preference|sft|unpaired [--campaign C] [--since T] [--out F]
    posttrain label report CAMPAIGN [--model A --model B] [--json F]   human evaluation of two models

A prompts file has one row per prompt: ``prompt`` (a string, or messages) or ``messages`` (a
conversation; turns after its last user turn, such as an SFT file's reference answer, are dropped).
An answers file has one row per prompt, in the prompts file's order (or placed by ``prompt_index``),
with the answer in ``answer`` or ``text`` and optionally its ``source`` (default: the file's name).
``posttrain generate --json`` output is such a file.

The database and exported files hold prompts, answers and password hashes: posttrain creates them
readable by their owner only (0600).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from posttrain.errors import DataError, UserError
from posttrain.feedback import DEFAULT_URL, EXPORT_FORMATS
from posttrain.util import require_web

if TYPE_CHECKING:
    from posttrain.feedback.records import Answer

DB_OPTION = click.option("--db", "db_url", default=DEFAULT_URL, show_default=True, envvar="POSTTRAIN_FEEDBACK_DB",
                         help="Feedback database URL: sqlite:///FILE or postgresql://USER:PASS@HOST/DB.")


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.group()
def label() -> None:
    """Human feedback: labeling campaigns, the labeling web app and exports."""
    require_web("posttrain label")


@label.command("add-user")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see campaign progress and agreement, and export.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="POSTTRAIN_LABEL_PASSWORD",
              help="The password (asked for when not given; at least 8 characters).")
@DB_OPTION
def add_user(name: str, admin: bool, password: str, db_url: str) -> None:
    """Create a reviewer account NAME (an admin with --admin)."""
    from posttrain.feedback.store import FeedbackStore

    FeedbackStore(db_url).add_reviewer(name, password, admin=admin)
    click.echo(f"added {'admin' if admin else 'reviewer'} '{name}'")


@label.command("reset-password")
@click.argument("name")
@DB_OPTION
def reset_password(name: str, db_url: str) -> None:
    """Give NAME a new password and end all of NAME's sessions.

    The password is asked for twice on a terminal; otherwise the first line of standard input is
    read (e.g. from a password manager's pipe). It is never taken from the command line, where
    other users of the machine could see it in the process list.
    """
    from posttrain.feedback.store import FeedbackStore

    store = FeedbackStore(db_url)
    if store.account(name) is None:  # before asking for a password that could not be used
        raise UserError(f"no reviewer '{name}'")
    store.set_password(name, _read_new_password(name))
    click.echo(f"reset the password of '{name}'; their sessions are ended")


def _read_new_password(name: str) -> str:
    if sys.stdin.isatty():
        return click.prompt(f"New password for '{name}'", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UserError("no password on standard input (send it as the first line)")
    return line


@label.command("import")
@click.option("--campaign", required=True, help="Campaign name (created when new; items are appended otherwise).")
@click.option("--prompts", "prompts_file", required=True, type=click.Path(dir_okay=False),
              help="JSONL of rows with 'prompt' (a string or messages) or 'messages' (turns after the last "
                   "user turn are dropped).")
@click.option("--model", "models", multiple=True, help="A model that answers every prompt; repeatable.")
@click.option("--answers", "answer_files", multiple=True, type=click.Path(dir_okay=False),
              help="A JSONL file of existing answers, one per prompt; repeatable.")
@click.option("--gold", "gold_file", type=click.Path(dir_okay=False),
              help="JSONL of gold items mixed in to check reviewers: 'prompt', 'answers' (strings) and 'gold' "
                   "(the index of the known better answer).")
@click.option("--judgements-per-item", default=2, show_default=True, type=click.IntRange(min=1),
              help="Independent judgements each item should get (for a new campaign).")
@click.option("--description", default="", help="Shown to admins (for a new campaign).")
@click.option("--samples", default=1, show_default=True, type=click.IntRange(min=1),
              help="Answers per model and prompt.")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--temperature", default=0.7, show_default=True, type=click.FloatRange(min=0))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@DB_OPTION
def import_command(campaign, prompts_file, models, answer_files, gold_file, judgements_per_item, description, samples,
                   max_tokens, temperature, seed, batch_size, db_url) -> None:
    """Add items to a campaign: each prompt with answers from models and/or answer files (two or more in all)."""
    from posttrain.feedback.store import FeedbackStore, NewItem

    prompts = read_prompt_file(prompts_file)
    if not models and not answer_files:
        raise UserError("give --model NAME and/or --answers FILE (two or more answers per prompt in all)")
    if len(models) * samples + len(answer_files) < 2:
        raise UserError("a comparison needs two or more answers per prompt: "
                        "add another --model or --answers, or --samples 2")
    answers: list[list[Answer]] = [[] for _ in prompts]
    for path in answer_files:
        for index, answer in enumerate(read_answer_file(path, len(prompts))):
            answers[index].append(answer)
    for model in models:
        for index, generated in enumerate(generate_answers(model, prompts, samples=samples, max_tokens=max_tokens,
                                                           temperature=temperature, seed=seed, batch_size=batch_size)):
            answers[index] += generated
    store = FeedbackStore(db_url)
    if campaign not in store.campaign_names():
        store.create_campaign(campaign, judgements_per_item=judgements_per_item, description=description)
    items = [NewItem(prompt, item_answers) for prompt, item_answers in zip(prompts, answers)]
    gold = read_gold_file(gold_file) if gold_file else []
    if gold:  # mixed in at seeded random places, so reviewers cannot tell them by position
        import random

        items += gold
        random.Random(seed).shuffle(items)
    ids = store.add_items(campaign, items)
    click.echo(f"campaign '{campaign}': added {len(ids)} items ({ids[0]} .. {ids[-1]}), "
               f"{len(answers[0])} answers each" + (f", {_count(len(gold), 'gold item')} among them" if gold else ""))


def read_gold_file(path: str) -> list:
    """Gold items from a JSONL file: ``prompt`` or ``messages``, ``answers`` (strings), ``gold`` (an index)."""
    from posttrain.data.readers import read_rows_with_errors
    from posttrain.feedback.records import Answer
    from posttrain.feedback.store import NewItem

    if not Path(path).is_file():
        raise UserError(f"gold items file not found: {path}")
    items = []
    for line, row in read_rows_with_errors(path):
        if isinstance(row, DataError):
            raise row
        texts, gold = row.get("answers"), row.get("gold")
        if not isinstance(texts, list) or len(texts) < 2 or not all(isinstance(text, str) for text in texts):
            raise DataError("a gold item needs 'answers': a list of two or more strings", path=path, line=line,
                            field="answers")
        if not isinstance(gold, int) or not 0 <= gold < len(texts):
            raise DataError(f"'gold' must be the index (0..{len(texts) - 1}) of the better answer, got {gold!r}",
                            path=path, line=line, field="gold")
        try:
            prompt = _prompt_of_row(row)
        except DataError as error:
            raise DataError(error.reason, path=path, line=line, field=error.field) from None
        items.append(NewItem(prompt, [Answer(text=text, source="gold") for text in texts], gold=gold))
    return items


def read_prompt_file(path: str) -> list[list[dict[str, Any]]]:
    """The prompts of a JSONL/JSON/Parquet file as chat messages (see the module docstring)."""
    from posttrain.data.readers import read_rows_with_errors

    prompts = []
    for line, row in read_rows_with_errors(path):
        if isinstance(row, DataError):
            raise row
        try:
            prompts.append(_prompt_of_row(row))
        except DataError as error:
            raise DataError(error.reason, path=path, line=line, field=error.field) from None
    if not prompts:
        raise UserError(f"{path}: the file has no rows")
    return prompts


def _prompt_of_row(row: dict[str, Any]) -> list[dict[str, Any]]:
    from posttrain.data.formats import prompt_messages

    if "prompt" in row:
        return prompt_messages(row["prompt"])
    if "messages" not in row:
        raise DataError(f"a prompt row needs 'prompt' or 'messages' (row has: {', '.join(sorted(row)) or 'no fields'})")
    messages = prompt_messages(row["messages"], "messages")
    last_user = max((index for index, message in enumerate(messages) if message["role"] == "user"), default=None)
    if last_user is None:
        raise DataError("has no user turn to ask the models", field="messages")
    return messages[:last_user + 1]


def read_answer_file(path: str, prompts: int) -> list[Answer]:
    """One answer per prompt from a JSONL file (see the module docstring)."""
    from posttrain.data.readers import read_rows_with_errors
    from posttrain.feedback.records import Answer

    if not Path(path).is_file():
        raise UserError(f"answers file not found: {path}")
    found: dict[int, Answer] = {}
    for line, row in read_rows_with_errors(path):
        if isinstance(row, DataError):
            raise row
        text = row.get("answer", row.get("text"))
        if not isinstance(text, str):
            raise DataError("a row needs the answer as a string in 'answer' or 'text'", path=path, line=line)
        index = row.get("prompt_index", len(found))
        if not isinstance(index, int) or not 0 <= index < prompts:
            raise DataError(f"prompt_index must be 0..{prompts - 1}, got {index!r}", path=path, line=line)
        if index in found:
            raise DataError(f"a second answer for prompt {index}", path=path, line=line)
        found[index] = Answer(text=text, source=str(row.get("source") or Path(path).stem))
    if len(found) != prompts:
        missing = next(index for index in range(prompts) if index not in found)
        raise UserError(f"{path}: has {len(found)} answers for {prompts} prompts (first missing: prompt {missing})")
    return [found[index] for index in range(prompts)]


def generate_answers(model: str, prompts: list[list[dict]], *, samples: int, max_tokens: int, temperature: float,
                     seed: int, batch_size: int) -> list[list[Answer]]:
    """``samples`` answers of ``model`` to each prompt, sampled with the rollout engine."""
    from posttrain.data.render import render_prompt
    from posttrain.feedback.records import Answer
    from posttrain.models.loading import load_model, load_tokenizer
    from posttrain.rollout.engine import LocalEngine
    from posttrain.rollout.generate import SamplingParams

    tokenizer, language_model = load_tokenizer(model), load_model(model)
    engine = LocalEngine(language_model, tokenizer, batch_size=batch_size)
    params = SamplingParams(max_new_tokens=max_tokens, temperature=temperature, n=samples, seed=seed)
    answers: list[list[Answer]] = [[] for _ in prompts]
    for completion in engine.generate([render_prompt(prompt, tokenizer) for prompt in prompts], params):
        answers[completion.prompt_index].append(Answer(text=completion.text, source=model))
    return answers


@label.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8400, show_default=True, type=click.IntRange(1, 65535))
@click.option("--insecure-cookies", is_flag=True,
              help="Send the session cookie over plain HTTP too (only for a trusted network without TLS).")
@click.option("--lease-minutes", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="How long an unanswered assignment keeps its item from other reviewers.")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDR",
              help="A reverse proxy's address or network (e.g. 127.0.0.1, 10.0.0.0/8) whose X-Forwarded-For "
                   "names the client; repeatable. Default: none, the client is the connection's peer.")
@DB_OPTION
def serve(host: str, port: int, insecure_cookies: bool, lease_minutes: float, trusted_proxies: tuple[str, ...],
          db_url: str) -> None:
    """Run the labeling web app (put it behind a TLS proxy for a team, and name it with --trusted-proxy)."""
    import uvicorn

    from posttrain.feedback.store import FeedbackStore
    from posttrain.label.app import create_app, parse_trusted_proxies

    parse_trusted_proxies(trusted_proxies)  # a typo is a one-line error before the database is opened
    store = FeedbackStore(db_url, lease_minutes=lease_minutes)
    app = create_app(store, secure_cookies=not insecure_cookies, trusted_proxies=trusted_proxies)
    click.echo(f"labeling app on http://{host}:{port} (database {store.display_url})")
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 (its default),
    # letting any local client pick its address; the app honours only --trusted-proxy.
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


@label.command()
@DB_OPTION
def progress(db_url: str) -> None:
    """Items judged per campaign and reviewer, and inter-annotator agreement."""
    from posttrain.feedback.store import FeedbackStore

    store = FeedbackStore(db_url)
    names = store.campaign_names()
    if not names:
        click.echo("no campaigns yet")
    for name in names:
        state, agreement = store.progress(name), store.agreement(name)
        fleiss = "n/a" if agreement.fleiss is None else f"{agreement.fleiss:.3f}"
        click.echo(f"{name}: {state.complete_items}/{state.items} items complete "
                   f"({_count(state.judgements_per_item, 'judgement')} each), {_count(state.judgements, 'judgement')}; "
                   f"Fleiss' kappa {fleiss} over {_count(agreement.fleiss_items, 'item')}")
        for reviewer, count in state.per_reviewer.items():
            click.echo(f"  {reviewer}: {count}")
        for first, second, shared, kappa in agreement.cohen:
            click.echo(f"  Cohen's kappa {first}/{second}: {kappa:.3f} over {shared} shared items")


@label.command()
@click.option("--format", "format_", type=click.Choice(EXPORT_FORMATS), default="records", show_default=True,
              help="records: the feedback record JSONL; preference / sft / unpaired: trainer rows.")
@click.option("--campaign", help="Only this campaign's judgements (default: everything, served feedback too).")
@click.option("--since", help="Only feedback created after this ISO time (e.g. 2026-11-23T12:00:00Z).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here (atomically) instead of to stdout.")
@DB_OPTION
def export(format_: str, campaign: str | None, since: str | None, out: str | None, db_url: str) -> None:
    """Export judgements and served feedback as records or as training rows."""
    from posttrain.util import write_text_atomic
    from posttrain.feedback.store import FeedbackStore, export_jsonl

    text = export_jsonl(FeedbackStore(db_url).export_records(since=since, campaign=campaign), format_)
    if out:
        write_text_atomic(out, text, private=True)  # reviewers' judgements and every prompt: the owner's only
        click.echo(f"wrote {_count(text.count(chr(10)), 'row')} to {out}", err=True)
    else:
        click.echo(text, nl=False)


@label.command()
@click.argument("campaign")
@click.option("--model", "models", multiple=True,
              help="The two answer sources to compare (repeat twice; default: the campaign's two sources).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the report as JSON here.")
@DB_OPTION
def report(campaign: str, models: tuple[str, ...], json_out: str | None, db_url: str) -> None:
    """Human evaluation of CAMPAIGN comparing two models: win rates with 95% intervals, mean
    ratings per criterion, ties, flags and inter-reviewer agreement (see posttrain.feedback.human_eval)."""
    import json

    from posttrain.feedback.human_eval import campaign_report, format_report
    from posttrain.feedback.store import FeedbackStore
    from posttrain.util import write_text_atomic

    if models and len(models) != 2:
        raise UserError(f"--model names the two models to compare: give it twice, not {len(models)} time(s)")
    store = FeedbackStore(db_url)
    if campaign not in store.campaign_names():
        raise UserError(f"no campaign '{campaign}' in {store.display_url}")
    result = campaign_report(store, campaign, tuple(models) if models else None)  # type: ignore[arg-type]
    click.echo(format_report(result))
    if json_out:
        write_text_atomic(json_out, json.dumps(result.as_dict(), indent=1) + "\n")
        click.echo(f"wrote {json_out}")
