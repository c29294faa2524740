"""A stand-in for the batching scheduler that answers with scripted text (tool calls on demand)."""

from __future__ import annotations

import asyncio


class ScriptedScheduler:
    """Stands in for the batching scheduler: answers every choice with ``reply(prompt_text)`` + eos,
    or never answers when ``reply`` returns None. Lets tests drive exact model output (tool calls)."""

    def __init__(self, tokenizer, reply):
        self.tokenizer, self.reply = tokenizer, reply
        self.prompts: list[str] = []
        self.running = self.waiting = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def submit(self, request):
        request.loop = asyncio.get_running_loop()
        prompt = self.tokenizer.decode(request.prompt_ids)
        self.prompts.append(prompt)
        text = self.reply(prompt)
        if text is None:
            return request
        token_ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.eos_token_id]
        for index in range(request.params.n):
            for token in token_ids:
                request.emit("token", index, token)
            request.emit("finish", index, "stop")
        return request
