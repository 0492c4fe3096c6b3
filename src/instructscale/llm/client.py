"""Async client for any OpenAI-compatible chat-completions endpoint.

One retry loop for every stage: bounded concurrency, optional requests- and
tokens-per-minute pacing, exponential backoff with jitter that honours `Retry-After`,
and a bounded number of attempts after which the call returns a failed result with the
reason (it never raises for API faults, so one bad item cannot stop a long run).
The API key is read from the environment variable named in the config and is kept
only in memory: it is never part of a config dump, a cache key, a log or a report, and
error texts (which some gateways fill with the request's headers) are redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import openai
from pydantic import BaseModel, ConfigDict, Field

from instructscale.errors import ConfigError, InstructscaleError
from instructscale.llm.usage import UsageMeter, estimate_tokens
from instructscale.redact import redact, register_key_env

OPENAI_URL = "https://api.openai.com/v1"
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


class ClientConfig(BaseModel):
    """Where and how to call the API. Secrets are referenced by env-var name only; `params`
    stays an open mapping because each server accepts its own sampling parameters."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(OPENAI_URL, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(..., description="Model name sent to the server")
    api_key_env: str = Field("OPENAI_API_KEY", description="Name of the environment variable holding the key")
    concurrency: int = Field(8, ge=1, description="Requests in flight at once")
    rpm: float | None = Field(None, gt=0, description="Requests per minute limit (None: no limit)")
    tpm: float | None = Field(None, gt=0, description="Tokens per minute limit, estimated (None: no limit)")
    max_attempts: int = Field(5, ge=1, description="Attempts per call before it is recorded as failed")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout in seconds")
    backoff_base_s: float = Field(1.0, ge=0, description="First retry delay; doubles each attempt, with jitter")
    backoff_max_s: float = Field(60.0, ge=0, description="Cap on a single retry delay")
    params: dict[str, Any] = Field(default_factory=dict, description="Sampling parameters (temperature, max_tokens, ...)")
    price_table: str | None = Field(None, description="YAML price table overriding the built-in one")
    max_failed_share: float = Field(0.1, ge=0, le=1, description="Share of calls that may fail after all retries "
                                    "before the run exits non-zero (failed ones are retried by the next run)")
    max_unreachable: int = Field(8, ge=1, description="Connection failures (refused, DNS, TLS, timeout) in a row, "
                                 "with no answer in between, after which the server counts as down and the run "
                                 "stops (ServerUnreachableError) instead of retrying every request")
    batch: bool = Field(False, description="Send requests as Batch API jobs (half price, replies within 24 h; "
                        "docs/batch.md) instead of one HTTP call each")
    batch_poll_s: float = Field(30.0, gt=0, description="Batch mode: seconds between status checks of a batch")
    batch_wait_s: float | None = Field(None, ge=0, description="Batch mode: stop waiting after this many seconds "
                                       "and leave the batches running for a rerun to collect (None: wait until done)")


class ServerUnreachableError(InstructscaleError):
    """The server did not answer `max_unreachable` attempts in a row: the stage stops (its
    finished records are kept) instead of spending hours on retries that cannot succeed."""


_UNREACHABLE = ("connection", "timeout")  # error kinds that mean no answer at all (a 5xx is an answer)


@dataclass
class ChatResult:
    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    attempts: int = 0
    cached_tokens: int = 0  # prompt tokens the provider served from its prefix cache

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class _Pacer:
    """Spaces out acquisitions so that at most `per_minute` units pass per minute."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self.next_free = 0.0
        self.lock = asyncio.Lock()

    async def acquire(self, units: float = 1.0) -> None:
        async with self.lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + units * self.interval
        if start > now:
            await asyncio.sleep(start - now)


class ChatClient:
    """Use as `async with ChatClient(cfg) as client: await client.chat(messages)`."""

    def __init__(self, config: ClientConfig):
        self.config = config
        register_key_env(config.api_key_env)
        self.usage = UsageMeter(model=config.model, price_table=config.price_table)
        self._sdk = openai.AsyncOpenAI(base_url=config.base_url, api_key=self._api_key(),
                                       timeout=config.timeout_s, max_retries=0)
        self._slots = asyncio.Semaphore(config.concurrency)
        self._rpm = _Pacer(config.rpm) if config.rpm else None
        self._tpm = _Pacer(config.tpm) if config.tpm else None
        self._unreached = 0  # attempts in a row that got no answer: the circuit breaker's count
        self._down: str | None = None  # set once the breaker has tripped: every later call raises it

    def _api_key(self) -> str:
        key = os.environ.get(self.config.api_key_env)
        if key:
            return key
        if self.config.base_url.rstrip("/") == OPENAI_URL:
            raise ConfigError(f"no API key: set the environment variable {self.config.api_key_env}")
        return "not-needed"  # local servers (vLLM, llama.cpp, the demo teacher) accept any key

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def aclose(self) -> None:
        await self._sdk.close()

    async def chat(self, messages: list[dict[str, str]], key: str | None = None, **overrides: Any) -> ChatResult:
        """One reply, after retries. `key` names the ask (the reply cache's key): unused
        online, it is the batch client's line id."""
        params = {**self.config.params, **overrides}
        budget = sum(estimate_tokens(m.get("content") or "") for m in messages) + int(params.get("max_tokens") or 256)
        for attempt in range(1, self.config.max_attempts + 1):
            if self._rpm:
                await self._rpm.acquire()
            if self._tpm:
                await self._tpm.acquire(budget)
            async with self._slots:
                self._raise_if_down()
                self.usage.requests += 1
                result, error, retry_after = await self._attempt(messages, params)
            self._count_reach(result, error)
            if result is not None:
                result.attempts = attempt
                self.usage.add(result)
                return result
            kind = error.split(":")[0]
            self.usage.errors[kind] = self.usage.errors.get(kind, 0) + 1
            if retry_after is None:  # not retryable (e.g. 400, 401, 404)
                break
            if attempt < self.config.max_attempts:
                self.usage.retries += 1
                await asyncio.sleep(retry_after or self._backoff(attempt))
        else:
            error = f"gave up after {attempt} attempts: {error}"
        self.usage.failures += 1
        return ChatResult(text=None, error=error, attempts=attempt)

    def _count_reach(self, result: ChatResult | None, error: str) -> None:
        """Circuit breaker: any answer (even a 429 or 500) resets the count; `max_unreachable`
        attempts in a row without one trip it."""
        if result is not None or error.split(":")[0] not in _UNREACHABLE:
            self._unreached = 0
            return
        self._unreached += 1
        if self._unreached >= self.config.max_unreachable and self._down is None:
            self._down = (f"server {self.config.base_url} (model {self.config.model}) did not answer "
                          f"{self._unreached} attempts in a row (last: {error}); is it running and reachable?")
        self._raise_if_down()

    def _raise_if_down(self) -> None:
        if self._down is not None:
            raise ServerUnreachableError(self._down)

    def _backoff(self, attempt: int) -> float:
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # jitter: spread retries of many callers

    async def _attempt(self, messages, params) -> tuple[ChatResult | None, str, float | None]:
        """One HTTP call. Returns (result, error, retry_after): retry_after is None when the
        error is not worth retrying, 0 for 'use backoff', or the server's Retry-After."""
        try:
            resp = await self._sdk.chat.completions.create(model=self.config.model, messages=messages, **params)
        except openai.APIStatusError as exc:
            status = exc.status_code
            err = f"http {status}: {_short(exc.message)}"
            if status in _RETRY_STATUS:
                return None, err, _retry_after(exc.response.headers)
            return None, err, None
        except openai.APITimeoutError:
            return None, f"timeout: no reply within {self.config.timeout_s}s", 0.0
        except openai.APIConnectionError as exc:
            return None, f"connection: {_short(str(exc.__cause__ or exc))}", 0.0
        except Exception as exc:  # malformed body the SDK could not decode
            return None, f"bad response: {type(exc).__name__}: {_short(str(exc))}", 0.0
        result, error = read_completion(resp.model_dump() if hasattr(resp, "model_dump") else resp, messages)
        return result, error, None if result is not None else 0.0


def read_completion(body: Any, messages: list[dict[str, str]]) -> tuple[ChatResult | None, str]:
    """A chat-completion body (online reply or batch output line) as a result, or why not;
    token counts the server leaves out are estimated."""
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None, "bad response: no choices in reply"
    if text is None:
        return None, "bad response: empty message content"
    usage = body.get("usage") or {}
    pt = usage.get("prompt_tokens") or sum(estimate_tokens(m.get("content") or "") for m in messages)
    ct = usage.get("completion_tokens") or estimate_tokens(text)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return ChatResult(text=text, prompt_tokens=pt, completion_tokens=ct, cached_tokens=cached,
                      finish_reason=choice.get("finish_reason")), ""


def _retry_after(headers) -> float:
    """Seconds from a Retry-After header (seconds or HTTP date); 0 means 'use our backoff'."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else 0.0


def _short(s: str, n: int = 200) -> str:
    """Server text for an error: redacted first, so a cut never leaves part of a key behind."""
    s = " ".join(redact(s).split())
    return s if len(s) <= n else s[:n] + "..."
