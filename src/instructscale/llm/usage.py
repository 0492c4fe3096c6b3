"""Token accounting and cost: counts per run, an editable price table, estimates for --dry-run."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from instructscale.datafiles import read_yaml

_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z0-9]+")


def estimate_tokens(text: str) -> int:
    """Rough token count without a tokenizer: ~1 token per CJK character, ~1.3 per Latin
    word, ~1 per other symbol. Good enough to budget a run; real counts come from the API."""
    cjk = len(_CJK.findall(text))
    words = _WORD.findall(text)
    rest = len(text) - cjk - sum(len(w) for w in words) - text.count(" ")
    return max(1, int(cjk + 1.3 * len(words) + 0.5 * max(rest, 0)))


@lru_cache(maxsize=8)
def load_price_table(path: str | None = None) -> dict[str, dict[str, float]]:
    """Prices in USD per million tokens: {model: {input: x, output: y}}. The built-in table
    is data/prices.yaml; pass your own YAML file of the same shape to override."""
    if path:
        return read_yaml(path) or {}
    return yaml.safe_load(resources.files("instructscale").joinpath("data/prices.yaml").read_text(encoding="utf-8"))


def _price(model: str, price_table: str | None) -> dict[str, float] | None:
    table = load_price_table(price_table)
    price = table.get(model)
    if price is None:  # longest prefix match: 'gpt-4o-mini-2024-07-18' -> 'gpt-4o-mini'
        prefixes = [k for k in table if model.startswith(k)]
        price = table[max(prefixes, key=len)] if prefixes else None
    return price


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int, price_table: str | None = None, *,
                  cached_tokens: int = 0, batch: bool = False) -> float | None:
    """USD cost, or None if the model is not in the price table (local servers usually) or,
    with `batch`, has no batch price there. `cached_tokens` (part of `prompt_tokens`) are
    priced at `cached_input` where the table has one."""
    price = _price(model, price_table)
    if price is None or (batch and "batch" not in price):
        return None
    cached = min(cached_tokens, prompt_tokens)
    usd = ((prompt_tokens - cached) * price["input"] + cached * price.get("cached_input", price["input"])
           + completion_tokens * price["output"]) / 1e6
    return usd * price["batch"] if batch else usd


def price_both(model: str, prompt_tokens: int, completion_tokens: int, price_table: str | None = None,
               cached_tokens: int = 0) -> dict[str, float | None]:
    """The same work priced online and through the Batch API, for dry runs and plans."""
    return {mode: estimate_cost(model, prompt_tokens, completion_tokens, price_table, cached_tokens=cached_tokens,
                                batch=mode == "batch") for mode in ("online", "batch")}


def estimate_asks(client_cfg, asks: Iterable[tuple[list[dict], dict, Any]], *, cache_path: str | Path | None,
                  reply_tokens: int) -> dict:
    """What --dry-run prints: requests, tokens and cost of first asks, each `(messages, params,
    cache tag)`; an ask whose reply is already cached costs nothing, and re-asks (rare) are not
    counted. `reply_tokens` is the guessed reply length. Calls nothing, writes nothing."""
    from instructscale.llm.cache import ReplyCache

    cache = ReplyCache(cache_path) if cache_path is not None and Path(cache_path).exists() else None
    requests = prompt_tokens = cached = 0
    try:
        for messages, params, tag in asks:
            if cache and cache.get(cache.key(client_cfg.model, messages, params, tag)) is not None:
                cached += 1
                continue
            requests += 1
            prompt_tokens += sum(estimate_tokens(m["content"]) for m in messages)
    finally:
        if cache:
            cache.close()
    completion_tokens = requests * min(reply_tokens, int(client_cfg.params.get("max_tokens") or reply_tokens))
    return {"cached": cached, "requests": requests, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, **cost_fields(client_cfg, prompt_tokens, completion_tokens)}


def cost_fields(client_cfg, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """`cost_usd` in the client's mode (batch or online) and both prices beside it."""
    both = price_both(client_cfg.model, prompt_tokens, completion_tokens, client_cfg.price_table)
    return {"cost_usd": both["batch" if client_cfg.batch else "online"], "cost_usd_online": both["online"],
            "cost_usd_batch": both["batch"], "batch": client_cfg.batch}


@dataclass
class UsageMeter:
    """What a run spent. `requests` counts HTTP attempts, retries included (in batch mode:
    lines sent in batch files); `cached_tokens` are prompt tokens served from the
    provider's prefix cache, priced at the cached input price."""

    model: str = ""
    price_table: str | None = None
    batch: bool = False
    requests: int = 0
    retries: int = 0
    successes: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    batches: int = 0  # batch jobs created
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, result) -> None:
        """Count one successful reply (a ChatResult)."""
        self.successes += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.cached_tokens += result.cached_tokens

    def cost(self, batch: bool | None = None) -> float | None:
        return estimate_cost(self.model, self.prompt_tokens, self.completion_tokens, self.price_table,
                             cached_tokens=self.cached_tokens, batch=self.batch if batch is None else batch)

    def summary(self) -> dict:
        return {"model": self.model, "requests": self.requests, "retries": self.retries,
                "successes": self.successes, "failures": self.failures,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens, "batch": self.batch, "batches": self.batches,
                "cost_usd": self.cost(), "cost_usd_online": self.cost(False), "cost_usd_batch": self.cost(True),
                "errors": dict(self.errors)}
