"""Load test of ``posttrain serve``: N concurrent streaming clients, batched server vs one request at a time.

One run starts two servers on loopback, one after the other, on the same model and machine:
``--max-batch-size B`` (continuous batching) and ``--max-batch-size 1`` (one request at a time).
Against each, ``--clients`` clients send streaming chat requests back to back for ``--duration``
seconds; then no new requests start and the ones in flight finish (a request never answered
within ``--drain`` seconds counts as lost). Every request asks for exactly ``--max-tokens`` tokens
(``ignore_eos``), so both servers do the same work per request.

Reported per server: completed, failed and lost requests, requests/s and completion tokens/s over
the whole window (first request sent to last one finished, drain included), and p50/p99 of
time-to-first-token and of latency. Then the batched/one-at-a-time tokens/s ratio and the targets
(zero failed or lost requests with the batched server; ratio >= 3).

    python bench/bench_serve.py                                   # 16 clients, 75 s per server
    python bench/bench_serve.py --clients 4 --duration 10         # a quick look

The run takes /tmp/posttrain-bench.lock (refusing to start while another benchmark holds it)
and writes bench/results/serve.json atomically.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from posttrain.util import write_text_atomic

LOCK = Path("/tmp/posttrain-bench.lock")
PROMPTS = [
    "What is 12 + 30?",
    "Write a short poem about the sea.",
    "Explain step by step how a bicycle works.",
    "Give me three tips for learning a new language, with one sentence each.",
    "Hello! How are you today?",
    "Summarise the plot of a detective story in a few sentences.",
    "List five fruits and say what colour each one is.",
    "Why is the sky blue? Answer briefly.",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_server(model: str, batch_size: int, port: int, log_path: Path, threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "posttrain.cli", "serve", model, "--port", str(port),
               "--max-batch-size", str(batch_size), "--max-queue", "256", "--timeout", "1800"]
    with open(log_path, "w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_ready(base_url: str, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not come up")


async def one_request(http: httpx.AsyncClient, model: str, prompt: str, max_tokens: int, seed: int) -> dict:
    """Send one streaming request; returns its timings, tokens and whether it succeeded."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0.7, "seed": seed, "stream": True, "stream_options": {"include_usage": True},
            "ignore_eos": True}
    sent = time.monotonic()
    first = None
    tokens = 0
    done = False
    try:
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                return {"ok": False, "error": f"status {response.status_code}", "sent": sent}
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: "):]
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return {"ok": False, "error": chunk["error"]["message"], "sent": sent}
                if first is None and any(choice["delta"].get("content") for choice in chunk["choices"]):
                    first = time.monotonic()
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
    except (httpx.HTTPError, json.JSONDecodeError) as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}", "sent": sent}
    finished = time.monotonic()
    if not done:
        return {"ok": False, "error": "stream ended without [DONE]", "sent": sent}
    return {"ok": True, "sent": sent, "finished": finished, "ttft": (first or finished) - sent,
            "latency": finished - sent, "tokens": tokens}


async def load(base_url: str, model: str, clients: int, duration: float, drain: float, max_tokens: int) -> dict:
    """``clients`` loops of back-to-back requests for ``duration`` s, then the in-flight ones finish."""
    results: list[dict] = []
    started = time.monotonic()
    stop_at = started + duration
    timeout = httpx.Timeout(duration + drain + 60)
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)

    async def client(number: int) -> None:
        count = 0
        while time.monotonic() < stop_at:
            prompt = PROMPTS[(number + count) % len(PROMPTS)]
            results.append(await one_request(http, model, prompt, max_tokens, seed=number * 1000 + count))
            count += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as http:
        tasks = [asyncio.create_task(client(number)) for number in range(clients)]
        _, pending = await asyncio.wait(tasks, timeout=duration + drain)
        for task in pending:  # still waiting after the drain: lost
            task.cancel()
        lost = len(pending)
    ok = [result for result in results if result["ok"]]
    window = (max(result["finished"] for result in ok) - started) if ok else duration
    tokens = sum(result["tokens"] for result in ok)
    return {
        "completed": len(ok), "failed": len(results) - len(ok), "lost": lost,
        "errors": sorted({result["error"] for result in results if not result["ok"]})[:5],
        "window_seconds": round(window, 1), "requests_per_second": round(len(ok) / window, 3),
        "tokens_per_second": round(tokens / window, 1), "completion_tokens": tokens,
        "ttft_p50": _round(_percentile([r["ttft"] for r in ok], 50)),
        "ttft_p99": _round(_percentile([r["ttft"] for r in ok], 99)),
        "latency_p50": _round(_percentile([r["latency"] for r in ok], 50)),
        "latency_p99": _round(_percentile([r["latency"] for r in ok], 99)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _warm_up(base_url: str, model: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as http:
        result = await one_request(http, model, PROMPTS[0], 4, seed=0)
    if not result["ok"]:
        raise SystemExit(f"the warm-up request failed: {result['error']}")


def run_side(args, batch_size: int, scratch: Path) -> dict:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = scratch / f"server-batch{batch_size}.log"
    process = start_server(args.model, batch_size, port, log_path, args.threads)
    try:
        wait_ready(base_url, process)
        # One warm-up request outside the measurement (first-call allocations, thread pools).
        asyncio.run(_warm_up(base_url, args.model))
        print(f"batch size {batch_size}: {args.clients} clients for {args.duration:.0f} s ...", flush=True)
        result = asyncio.run(load(base_url, args.model, args.clients, args.duration, args.drain, args.max_tokens))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    result["max_batch_size"] = batch_size
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=75.0, help="seconds of load per server")
    parser.add_argument("--drain", type=float, default=400.0, help="seconds in-flight requests may take afterwards")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="max batch size of the batched server")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each server (OMP_NUM_THREADS)")
    parser.add_argument("--out", default="bench/results/serve.json")
    args = parser.parse_args()
    try:
        LOCK.touch(exist_ok=False)  # atomic: refuses while another benchmark holds the lock
    except FileExistsError:
        raise SystemExit(f"{LOCK} exists: another benchmark is running; try again later") from None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
            batched = run_side(args, args.batch_size, Path(scratch))
            single = run_side(args, 1, Path(scratch))
    finally:
        LOCK.unlink(missing_ok=True)
    ratio = batched["tokens_per_second"] / single["tokens_per_second"] if single["tokens_per_second"] else None
    report = {
        "model": args.model, "clients": args.clients, "duration_seconds": args.duration, "max_tokens": args.max_tokens,
        "threads": args.threads, "batched": batched, "one_at_a_time": single,
        "tokens_per_second_ratio": None if ratio is None else round(ratio, 2),
        "targets": {"zero_failed_or_lost_batched": batched["failed"] == 0 and batched["lost"] == 0,
                    "ratio_at_least_3": ratio is not None and ratio >= 3},
        "machine": {"cpus": os.cpu_count()},
    }
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"\ntokens/s: batched {batched['tokens_per_second']}, one at a time {single['tokens_per_second']}, "
          f"ratio {report['tokens_per_second_ratio']} (target >= 3)")
    print(f"failed/lost with batching: {batched['failed']}/{batched['lost']} (target 0/0); written to {args.out}")


if __name__ == "__main__":
    main()
