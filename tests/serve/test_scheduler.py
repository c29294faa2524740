"""The continuous-batching scheduler: a sequence's tokens do not depend on who else is in the batch."""

from __future__ import annotations

import asyncio

import pytest

from posttrain.data.render import end_of_turn_ids, render_prompt
from posttrain.rollout.generate import SamplingParams, generate_ids
from posttrain.serve.scheduler import QueueFull, Request, Scheduler, SchedulerConfig


@pytest.fixture
def scheduler(tiny_lm):
    model, tokenizer = tiny_lm
    scheduler = Scheduler(model, tokenizer, SchedulerConfig(max_batch_size=8, max_queue=4))
    scheduler.start()
    yield scheduler
    scheduler.stop()


def _prompt(tokenizer, text: str) -> list[int]:
    return render_prompt([{"role": "user", "content": text}], tokenizer)


async def _collect(request: Request, until_tokens: int | None = None) -> dict[int, list[int]]:
    """Tokens per choice until every choice finished (or ``until_tokens`` arrived in choice 0)."""
    tokens: dict[int, list[int]] = {index: [] for index in range(request.params.n)}
    finished = 0
    while finished < request.params.n:
        kind, index, value = await request.events.get()
        if kind == "token":
            tokens[index].append(value)
            if until_tokens is not None and len(tokens[0]) == until_tokens:
                return tokens
        else:
            finished += 1
    return tokens


async def _run(scheduler: Scheduler, request: Request) -> dict[int, list[int]]:
    return await _collect(scheduler.submit(request))


def _greedy(prompt_ids: list[int], max_tokens: int = 24) -> Request:
    return Request(prompt_ids, SamplingParams(max_new_tokens=max_tokens, temperature=0), ignore_eos=True)


def test_greedy_output_in_a_mixed_batch_equals_output_alone(scheduler, tiny_lm):
    tokenizer = tiny_lm[1]
    short, long, medium = (_prompt(tokenizer, text) for text in
                           ("Hi", "The quick brown fox jumps over the lazy dog. " * 3, "What is 12 + 30?"))

    async def alone() -> list[int]:
        return (await _collect(scheduler.submit(_greedy(short))))[0]

    async def mixed() -> tuple[list[int], int]:
        first = scheduler.submit(_greedy(long, 40))
        await _collect(first, until_tokens=3)  # the long prompt is decoding: the short one joins its batch
        target = scheduler.submit(_greedy(short))
        first_tokens = await _collect(target, until_tokens=2)
        third = scheduler.submit(_greedy(medium))  # joins while the target is mid-way
        rest = await _collect(target)
        await asyncio.gather(_collect(first), _collect(third))
        return first_tokens[0] + rest[0], scheduler.stats["max_running"]

    expected = asyncio.run(alone())
    got, max_running = asyncio.run(mixed())
    assert len(expected) == 24
    assert got == expected
    assert max_running == 3  # the three really shared the batch
    assert scheduler.wait_idle() and scheduler.batch.attention_mask is None


def test_greedy_output_equals_the_one_shot_sampler(scheduler, tiny_lm):
    model, tokenizer = tiny_lm
    prompt = _prompt(tokenizer, "Hello there!")
    request = Request(prompt, SamplingParams(max_new_tokens=16, temperature=0))
    served = asyncio.run(_run(scheduler, request))[0]
    one_shot = generate_ids(model, [prompt], SamplingParams(max_new_tokens=16, temperature=0),
                            eos_token_ids=end_of_turn_ids(tokenizer, model), pad_token_id=tokenizer.pad_token_id)
    assert served == one_shot[0].token_ids


def test_seeded_sampling_gives_the_same_tokens_alone_or_batched_and_n_choices_differ(scheduler, tiny_lm):
    prompt = _prompt(tiny_lm[1], "Tell me")

    def seeded() -> Request:
        return Request(prompt, SamplingParams(max_new_tokens=12, temperature=1.0, n=3, seed=5), ignore_eos=True)

    async def batched():
        other = scheduler.submit(_greedy(_prompt(tiny_lm[1], "Other prompt here"), 30))
        await _collect(other, until_tokens=2)
        tokens = await _collect(scheduler.submit(seeded()))
        await _collect(other)
        return tokens

    alone = asyncio.run(_run(scheduler, seeded()))
    assert asyncio.run(batched()) == alone
    assert len({tuple(tokens) for tokens in alone.values()}) == 3  # three different samples
    assert all(len(tokens) == 12 for tokens in alone.values())


def test_stop_strings_and_max_tokens_end_a_sequence(scheduler, tiny_lm):
    tokenizer = tiny_lm[1]
    prompt = _prompt(tokenizer, "Count")
    full = asyncio.run(_run(scheduler, _greedy(prompt, 20)))[0]
    text = tokenizer.decode(full, skip_special_tokens=True)
    stop = next(text[i:i + 2] for i in range(3, len(text) - 2) if text[i:i + 2].isalnum() and text.find(text[i:i + 2]) == i)

    async def with_stop():
        request = scheduler.submit(Request(prompt, SamplingParams(max_new_tokens=20, temperature=0, stop=[stop]),
                                           ignore_eos=True))
        events = []
        while not events or events[-1][0] != "finish":
            events.append(await request.events.get())
        return events

    events = asyncio.run(with_stop())
    assert events[-1] == ("finish", 0, "stop")
    tokens = [value for kind, _, value in events if kind == "token"]
    assert tokens == full[: len(tokens)] and len(tokens) < 20
    assert stop in tokenizer.decode(tokens) and stop not in tokenizer.decode(tokens[:-1])


def test_cancel_removes_a_running_sequence_and_a_full_queue_refuses(tiny_lm):
    model, tokenizer = tiny_lm
    scheduler = Scheduler(model, tokenizer, SchedulerConfig(max_batch_size=1, max_queue=1))
    scheduler.start()
    prompt = _prompt(tokenizer, "Go")

    async def scenario():
        running = scheduler.submit(_greedy(prompt, 900))
        await _collect(running, until_tokens=2)
        waiting = scheduler.submit(_greedy(prompt, 5))  # no free slot: it waits
        with pytest.raises(QueueFull):
            scheduler.submit(_greedy(prompt, 5))
        running.cancel()
        return len((await _collect(waiting))[0])

    try:
        assert asyncio.run(scenario()) == 5  # the waiting request got the slot once the first was cancelled
        assert scheduler.wait_idle()
        assert scheduler.stats["cancelled"] == 1 and scheduler.stats["completed"] == 1
        assert scheduler.stats["tokens"] < 200  # the cancelled sequence stopped long before its 900 tokens
    finally:
        scheduler.stop()


def test_a_failing_model_fails_its_requests_and_the_scheduler_keeps_serving(tiny_lm):
    model, tokenizer = tiny_lm
    scheduler = Scheduler(model, tokenizer)

    class Broken:
        config = model.config

        def __call__(self, **_inputs):
            raise RuntimeError("out of memory")

    scheduler.model = Broken()
    scheduler.start()
    prompt = _prompt(tokenizer, "Hi")

    async def first_event():
        return await scheduler.submit(_greedy(prompt, 3)).events.get()

    try:
        assert asyncio.run(first_event()) == ("error", "generation failed: RuntimeError")
        scheduler.model = model
        assert len(asyncio.run(_run(scheduler, _greedy(prompt, 3)))[0]) == 3
    finally:
        scheduler.stop()
