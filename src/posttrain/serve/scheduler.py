"""Continuous batching: one thread owns the model and advances every running sequence together.

Requests wait in a bounded FIFO queue. Between two decode steps the scheduler thread

1. drops cancelled sequences (client gone, timeout) from the queue and from the running batch;
2. admits waiting sequences into free batch slots (up to ``max_prefill_tokens`` prompt tokens per
   step, at least one sequence): their prompts are prefilled together as one left-padded batch
   (a prompt shared by a request's ``n`` choices is prefilled once and its cache repeated), their
   first tokens are sampled, and their KV cache is merged into the running batch;
3. runs one decode step for the whole running batch and sends each sequence's new token to its
   request's asyncio queue.

How the running batch is laid out (the scheme ``rollout.generate`` uses, kept open-ended): rows
are left-padded to one cache width ``T``; ``attention_mask`` (B, T) marks real tokens; each row
carries its own next position, so a row's keys (rotated at the positions it had alone) and its
logits do not depend on who else is in the batch. Merging two batches pads the narrower cache on
the left with masked zero columns; removing rows selects them and cuts the columns no remaining
row uses. Greedy output in a mixed batch therefore equals the output alone (the tests check this).

Sampling reuses ``rollout.generate.sample_next`` row by row, each sequence with its own
``torch.Generator`` (seeded from the request's ``seed`` and the choice index), so a seeded request
gives the same tokens whoever else is in the batch, up to floating-point ties.

Events put on a request's queue (from the scheduler thread, via ``call_soon_threadsafe``):
``("token", choice_index, token_id)``, ``("finish", choice_index, reason)`` with reason ``stop``
or ``length``, and ``("error", message)`` if the model fails.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import torch

from posttrain.data.render import end_of_turn_ids
from posttrain.rollout.generate import (
    SamplingParams,
    hit_stop_string,
    sample_next,
)
from posttrain.rollout.kv_cache import RunningBatch as Batch

log = logging.getLogger("posttrain.serve")


class QueueFull(Exception):
    """The waiting queue holds ``max_queue`` requests; the caller should answer 429."""


@dataclass
class SchedulerConfig:
    max_batch_size: int = 16  # sequences decoded together
    max_queue: int = 64  # requests waiting for a batch slot before new ones get 429
    max_prefill_tokens: int = 2048  # prompt tokens prefilled between two decode steps (one prompt always fits)


@dataclass
class Request:
    """One chat completion: ``params.n`` sequences continuing ``prompt_ids``."""

    prompt_ids: list[int]
    params: SamplingParams
    ignore_eos: bool = False
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    loop: asyncio.AbstractEventLoop | None = None
    cancelled: bool = False
    # Bookkeeping of the scheduler thread:
    admitted: bool = False  # a first sequence left the queue, so the request no longer counts as waiting
    dropped: bool = False  # removed after a cancel (counted once in the stats)
    finished_choices: int = 0
    id: int = field(default_factory=itertools.count().__next__)

    def cancel(self) -> None:
        """Stop generating (the scheduler notices before its next step); no more events follow."""
        self.cancelled = True

    def emit(self, *event) -> None:
        if self.loop is not None and not self.cancelled:
            try:
                self.loop.call_soon_threadsafe(self.events.put_nowait, event)
            except RuntimeError:  # the event loop is closed: the server is shutting down
                self.cancelled = True


@dataclass
class _Sequence:
    request: Request
    index: int  # choice index within the request
    generator: torch.Generator
    token_ids: list[int] = field(default_factory=list)
    finished: bool = False


def _generator(seed: int | None, index: int, device: torch.device) -> torch.Generator:
    # On the model's device: sampling draws from the logits there (a CPU generator cannot).
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed((seed * 1_000_003 + index) % (2**63))
    return generator


class SchedulerThread:
    """The thread a scheduler runs ``_run`` on, and how it starts and stops; shared by :class:`Scheduler`
    and :class:`~posttrain.serve.vllm_scheduler.VLLMScheduler`. ``_run`` loops until ``_stopping`` and
    sleeps on ``_wake``, which ``submit`` and ``stop`` set."""

    thread_name = "posttrain-scheduler"

    def _init_thread(self) -> None:
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        raise NotImplementedError


class Scheduler(SchedulerThread):
    """Owns the model on one thread; ``submit`` queues a request, its events arrive on ``request.events``.

    Example (inside a running event loop)::

        scheduler = Scheduler(model, tokenizer, SchedulerConfig(max_batch_size=16)); scheduler.start()
        request = scheduler.submit(Request(prompt_ids, SamplingParams(max_new_tokens=32, temperature=0)))
        kind, index, value = await request.events.get()
    """

    def __init__(self, model, tokenizer, config: SchedulerConfig | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.config = config or SchedulerConfig()
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_token_ids = end_of_turn_ids(tokenizer, model)
        self.device = next(model.parameters()).device
        self._waiting: deque[_Sequence] = deque()
        self._waiting_requests = 0
        self._lock = threading.Lock()
        self._init_thread()
        self.batch = Batch()
        self._admitting: list[_Sequence] = []
        self.stats = {"completed": 0, "cancelled": 0, "steps": 0, "prefills": 0, "tokens": 0, "max_running": 0}

    def _decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True)

    # -- the asyncio side ---------------------------------------------------------------------

    def submit(self, request: Request) -> Request:
        """Queue ``request``; raises :class:`QueueFull` when ``max_queue`` requests are waiting."""
        request.loop = request.loop or asyncio.get_running_loop()
        sequences = [_Sequence(request, index, _generator(request.params.seed, index, self.device))
                     for index in range(request.params.n)]
        with self._lock:
            if self._waiting_requests >= self.config.max_queue:
                raise QueueFull
            self._waiting.extend(sequences)
            self._waiting_requests += 1
        self._wake.set()
        return request

    @property
    def waiting(self) -> int:
        return self._waiting_requests

    @property
    def running(self) -> int:
        return len(self.batch)

    # -- the scheduler thread -----------------------------------------------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while not self._stopping:
                try:
                    self._drop_cancelled()
                    self._admit()
                    if len(self.batch):
                        self._decode_step()
                    else:
                        self._wake.wait(timeout=0.5)
                        self._wake.clear()
                except Exception as error:  # fail the requests in flight, keep serving
                    log.exception("generation failed")
                    self._fail_all(f"generation failed: {type(error).__name__}")

    def _fail_all(self, message: str) -> None:
        for sequence in self.batch.sequences + self._admitting:
            sequence.request.emit("error", message)
            sequence.request.cancel()
        self.batch, self._admitting = Batch(), []

    def _drop_cancelled(self) -> None:
        with self._lock:
            cancelled = [sequence for sequence in self._waiting if sequence.request.cancelled]
            if cancelled:
                self._waiting = deque(sequence for sequence in self._waiting if not sequence.request.cancelled)
        cancelled += [sequence for sequence in self.batch.sequences if sequence.request.cancelled]
        for request in {id(sequence.request): sequence.request for sequence in cancelled}.values():
            if not request.admitted:
                with self._lock:
                    self._waiting_requests -= 1
                request.admitted = True
            if not request.dropped:
                request.dropped = True
                self.stats["cancelled"] += 1
        if any(sequence.request.cancelled for sequence in self.batch.sequences):
            self.batch.keep([row for row, sequence in enumerate(self.batch.sequences) if not sequence.request.cancelled])

    def _take_waiting(self) -> list[_Sequence]:
        """Sequences to admit now: FIFO, within free slots and the prefill token budget."""
        taken: list[_Sequence] = []
        budget = self.config.max_prefill_tokens
        free = self.config.max_batch_size - len(self.batch)
        with self._lock:
            while self._waiting and len(taken) < free:
                sequence = self._waiting[0]
                same_prompt = taken and taken[-1].request is sequence.request
                cost = 0 if same_prompt else len(sequence.request.prompt_ids)
                if taken and cost > budget:
                    break
                budget -= cost
                taken.append(self._waiting.popleft())
                if not sequence.request.admitted:
                    sequence.request.admitted = True
                    self._waiting_requests -= 1
        return taken

    def _admit(self) -> None:
        taken = self._admitting = self._take_waiting()  # failed together with the batch if the prefill raises
        if not taken:
            return
        # A prompt shared by several choices of one request is prefilled once.
        prompts: list[list[int]] = []
        prompt_row: list[int] = []  # the prompt each taken sequence continues
        for position, sequence in enumerate(taken):
            if position == 0 or sequence.request is not taken[position - 1].request:
                prompts.append(sequence.request.prompt_ids)
            prompt_row.append(len(prompts) - 1)
        rows = torch.tensor(prompt_row, dtype=torch.long, device=self.device)
        new, logits = Batch.prefilled(self.model, prompts, rows, self.pad_token_id, self._reserve(taken), taken)
        self.stats["prefills"] += 1
        new.next_tokens = self._sample(taken, logits)
        self.batch.merge(new)
        self._admitting = []
        self.stats["max_running"] = max(self.stats["max_running"], len(self.batch))
        self._retire_finished()

    def _decode_step(self) -> None:
        self.batch.next_tokens = self._sample(self.batch.sequences, self.batch.step(self.model))
        self.stats["steps"] += 1
        self._retire_finished()

    @staticmethod
    def _reserve(sequences: list[_Sequence]) -> int:
        """Room the new rows' cache keeps for generated tokens: the most any of them may generate."""
        return max(sequence.request.params.max_new_tokens for sequence in sequences)

    def _sample(self, sequences: list[_Sequence], logits: torch.Tensor) -> torch.Tensor:
        """One token per row of ``logits`` (B, V), each with its sequence's params; emits them."""
        greedy = logits.argmax(dim=-1)  # (B,)
        tokens = greedy.tolist()
        for row, sequence in enumerate(sequences):
            params = sequence.request.params
            if sequence.request.ignore_eos:
                logits[row, list(self.eos_token_ids)] = float("-inf")
                tokens[row] = int(logits[row].argmax())
            if params.temperature > 0:
                tokens[row] = int(sample_next(logits[row : row + 1], params, sequence.generator)[0])
            self._append(sequence, tokens[row])
        self.stats["tokens"] += len(sequences)
        return torch.tensor(tokens, dtype=torch.long, device=self.device)

    def _append(self, sequence: _Sequence, token: int) -> None:
        request, params = sequence.request, sequence.request.params
        sequence.token_ids.append(token)
        request.emit("token", sequence.index, token)
        hit_eos = token in self.eos_token_ids and not request.ignore_eos
        if hit_eos or (params.stop and hit_stop_string(sequence.token_ids, params.stop, self._decode)):
            reason = "stop"
        elif len(sequence.token_ids) >= params.max_new_tokens:
            reason = "length"
        else:
            return
        sequence.finished = True
        request.emit("finish", sequence.index, reason)

    def _retire_finished(self) -> None:
        finished = [sequence for sequence in self.batch.sequences if sequence.finished]
        if not finished:
            return
        for sequence in finished:
            sequence.request.finished_choices += 1
            if sequence.request.finished_choices == sequence.request.params.n:
                self.stats["completed"] += 1
        self.batch.keep([row for row, sequence in enumerate(self.batch.sequences) if not sequence.finished])

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing runs or waits (tests use it after cancelling)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not len(self.batch) and not self._waiting:
                return True
            time.sleep(0.01)
        return False
