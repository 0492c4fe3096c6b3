"""Answers from any OpenAI-compatible server (vLLM, llama.cpp, TGI, a hosted API) through
the shared ChatClient: bounded concurrency, retries with backoff, token and cost accounting.
The server formats the chat turn itself, so the question is sent as the user message."""

from __future__ import annotations

import asyncio

from instructscale.llm import ChatClient
from instructscale.llm.client import OPENAI_URL
from instructscale.respond.backend import Answer, Emit, Job
from instructscale.respond.prompts import drop_broken_tail


class OpenAIBackend:
    def __init__(self, cfg, spec):
        self.cfg, self.usage = cfg, {}
        self.stop = list(cfg.stop or [])
        params = {**self._params(cfg), **cfg.client.params}  # explicit client params win
        self.client_cfg = cfg.client.model_copy(update={"model": spec.path, "params": params})
        self.settings = {"template": "server chat", "stop": self.stop, "server_model": spec.path}

    @staticmethod
    def _params(cfg) -> dict:
        g = cfg.generation()
        params = {"max_tokens": g.max_new_tokens, "temperature": g.temperature if g.do_sample else 0.0,
                  "top_p": g.top_p if g.do_sample else 1.0}
        if cfg.stop:
            params["stop"] = list(cfg.stop)
        # top_k and repetition_penalty are not OpenAI parameters; vLLM and most local
        # servers accept them in the body, the official API would reject them
        extra = {}
        if g.do_sample and g.top_k:
            extra["top_k"] = g.top_k
        if g.repetition_penalty != 1.0:
            extra["repetition_penalty"] = g.repetition_penalty
        if extra and cfg.client.base_url.rstrip("/") != OPENAI_URL:
            params["extra_body"] = extra
        return params

    def generate(self, jobs: list[Job], emit: Emit) -> None:
        asyncio.run(self._run(jobs, emit))

    async def _run(self, jobs: list[Job], emit: Emit) -> None:
        async with ChatClient(self.client_cfg) as client:
            pending = iter(jobs)

            async def worker():
                for job in pending:  # one shared iterator: each job is taken by exactly one worker
                    emit(job, await self._ask(client, job))

            try:
                await asyncio.gather(*(worker() for _ in range(min(self.client_cfg.concurrency, len(jobs)))))
            finally:
                self.usage = client.usage.summary()

    async def _ask(self, client: ChatClient, job: Job) -> Answer:
        result = await client.chat([{"role": "user", "content": job.item.question}],
                                   seed=self.cfg.seed + job.sample)
        if not result.ok:
            return Answer(text="", error=result.error)
        truncated = result.finish_reason == "length"
        text = drop_broken_tail(result.text) if truncated else result.text
        return Answer(text=text.strip(), prompt_tokens=result.prompt_tokens,
                      completion_tokens=result.completion_tokens, truncated=truncated)

    def close(self) -> None:
        pass
