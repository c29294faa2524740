"""The scheduler of ``posttrain serve --engine vllm``: vLLM's continuous batching behind the interface of
:class:`posttrain.serve.scheduler.Scheduler` (``submit``, ``start``, ``stop``, ``running``, ``waiting``).

The HTTP layer (routes, streaming, tool calls, feedback capture, errors) is the same for both engines;
only where the tokens come from changes. One thread owns vLLM's ``LLMEngine``, which is not thread-safe.
Between two ``step()`` calls it aborts cancelled requests (client gone, timeout) and hands waiting
requests to vLLM while their sequences fit in ``max_batch_size``; the rest wait in a queue of at most
``max_queue`` requests (429 beyond). Each step's new tokens (``RequestOutputKind.DELTA``) become the
events the native scheduler sends: ``("token", choice_index, token_id)``, ``("finish", choice_index,
reason)`` and ``("error", message)``. Prompts go in as token ids; stop strings, ``ignore_eos``,
``n`` and the seed go to vLLM's sampling parameters (:meth:`VLLMEngine.sampling_params`), and the
HTTP layer turns token ids into text as it does for the native engine. ``max_prefill_tokens`` does
not apply: vLLM schedules prefills itself (chunked prefill).

Example::

    engine = engine_for_spec("smollm2-135m", tokenizer)
    app = create_app(config, model=EngineModel(engine), tokenizer=tokenizer, scheduler=VLLMScheduler(engine))
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from types import SimpleNamespace

from posttrain.serve.scheduler import QueueFull, Request, SchedulerConfig, SchedulerThread

log = logging.getLogger("posttrain.serve")


class EngineModel:
    """What the HTTP layer reads from a model, for an engine that holds the model elsewhere: the context
    length (``config.max_position_embeddings``) and the ids that end a turn (``generation_config``)."""

    def __init__(self, engine):
        self.config = SimpleNamespace(max_position_embeddings=engine.context_length)
        self.generation_config = SimpleNamespace(eos_token_id=sorted(engine.eos_token_ids))


class VLLMScheduler(SchedulerThread):
    """Serves requests from a :class:`~posttrain.rollout.vllm_engine.VLLMEngine` (see the module docstring)."""

    thread_name = "posttrain-vllm-scheduler"

    def __init__(self, engine, config: SchedulerConfig | None = None):
        self.engine, self.config = engine, config or SchedulerConfig()
        self._waiting: deque[Request] = deque()
        self._live: dict[str, Request] = {}  # vLLM request id -> request
        self._lock = threading.Lock()
        self._init_thread()
        self.stats = {"completed": 0, "cancelled": 0, "steps": 0, "tokens": 0, "max_running": 0}

    # -- the asyncio side ---------------------------------------------------------------------

    def submit(self, request: Request) -> Request:
        """Queue ``request``; raises :class:`QueueFull` when ``max_queue`` requests are waiting."""
        request.loop = request.loop or asyncio.get_running_loop()
        with self._lock:
            if len(self._waiting) >= self.config.max_queue:
                raise QueueFull
            self._waiting.append(request)
        self._wake.set()
        return request

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return sum(request.params.n for request in list(self._live.values()))

    def stop(self) -> None:
        super().stop()
        self._abort(list(self._live))  # the engine may be shared: leave nothing running in it

    # -- the scheduler thread -----------------------------------------------------------------

    @property
    def _llm_engine(self):
        return self.engine.llm.llm_engine

    def _run(self) -> None:
        while not self._stopping:
            try:
                self._drop_cancelled()
                self._admit()
                if self._live:
                    self._step()
                else:
                    self._wake.wait(timeout=0.5)
                    self._wake.clear()
            except Exception as error:  # fail the requests in flight, keep serving
                log.exception("generation failed")
                self._fail_all(f"generation failed: {type(error).__name__}")

    def _abort(self, request_ids: list[str]) -> None:
        if request_ids:
            self._llm_engine.abort_request(request_ids)
            for request_id in request_ids:
                self._live.pop(request_id, None)

    def _fail_all(self, message: str) -> None:
        for request in self._live.values():
            request.emit("error", message)
            request.cancel()
        try:
            self._abort(list(self._live))
        except Exception:
            log.exception("aborting the failed requests failed")
            self._live.clear()

    def _drop_cancelled(self) -> None:
        with self._lock:
            dropped = [request for request in self._waiting if request.cancelled]
            if dropped:
                self._waiting = deque(request for request in self._waiting if not request.cancelled)
        gone = [request_id for request_id, request in self._live.items() if request.cancelled]
        self._abort(gone)
        self.stats["cancelled"] += len(dropped) + len(gone)

    def _admit(self) -> None:
        """Hand waiting requests to vLLM, FIFO, while their sequences fit in ``max_batch_size`` (one always fits)."""
        from vllm import TokensPrompt

        while True:
            with self._lock:
                if not self._waiting:
                    return
                request = self._waiting[0]
                if self._live and self.running + request.params.n > self.config.max_batch_size:
                    return
                self._waiting.popleft()
            request_id = f"posttrain-{request.id}"
            params = self.engine.sampling_params(request.params, request.params.seed, logprobs=False,
                                                 ignore_eos=request.ignore_eos, delta=True)
            self._live[request_id] = request
            self._llm_engine.add_request(request_id, TokensPrompt(prompt_token_ids=list(request.prompt_ids)), params)
            self.stats["max_running"] = max(self.stats["max_running"], self.running)

    def _step(self) -> None:
        outputs = self._llm_engine.step()
        self.stats["steps"] += 1
        for output in outputs:
            request = self._live.get(output.request_id)
            if request is None:  # aborted meanwhile
                continue
            for choice in output.outputs:
                for token in choice.token_ids:
                    request.emit("token", choice.index, token)
                self.stats["tokens"] += len(choice.token_ids)
                if choice.finish_reason is not None:
                    request.emit("finish", choice.index, "length" if choice.finish_reason == "length" else "stop")
            if output.finished:
                del self._live[output.request_id]
                self.stats["completed"] += 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing runs or waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._live and not self._waiting:
                return True
            time.sleep(0.01)
        return False


def vllm_scheduler(config, tokenizer=None):
    """``(scheduler, model, tokenizer)`` for ``create_app`` serving ``config.model`` with vLLM; ``model`` is
    an :class:`EngineModel`: the weights live in vLLM's engine process only."""
    from posttrain.models.loading import load_tokenizer
    from posttrain.rollout.vllm_engine import engine_for_spec, vllm_dtype

    tokenizer = tokenizer or load_tokenizer(config.model)
    engine = engine_for_spec(config.model, tokenizer, dtype=vllm_dtype(config.dtype))
    scheduler = VLLMScheduler(engine, SchedulerConfig(config.max_batch_size, config.max_queue, config.max_prefill_tokens))
    return scheduler, EngineModel(engine), tokenizer
