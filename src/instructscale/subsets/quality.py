"""`llm-quality` selection: an LLM rates every pool example 0-5 (AlpaGasus-style data
filtering), through the same client, cache and re-ask loop as the judge.

A reply without a valid rating is re-asked with a format reminder; if it still has none,
the example stays unrated (score None) and ranks after every rated one. It is never
rated 0 silently, which would make a parsing failure look like a verdict on the data.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from instructscale.console import progress
from instructscale.datafiles import read_yaml
from instructscale.errors import InputError
from instructscale.llm import ChatClient, ClientConfig, ReplyCache, cached_chat, estimate_asks
from instructscale.llm.batch import open_client, worker_count
from instructscale.records import InstructionExample

BUILTIN = ("zh", "en")
MAX_RATING = 5.0
CACHE_TAG = "rate"  # keeps rating replies apart from other stages' replies to the same messages
API_ERROR = "api: "  # reason prefix of a rating whose call failed (not cached: a rerun asks again)
ASSUMED_REPLY_TOKENS = 40  # dry-run guess: a score line and a one-sentence reason

_LABEL = r"(?:评分|得分|分数|打分|score|rating)"
_RATING = re.compile(_LABEL + r"[\s*_\]】)）]*(?:[:=]|为|是|\bis\b)[\s*_\[【(（]*(\d+(?:\.\d+)?)"
                     r"(?:\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?", re.IGNORECASE)
_REASON = re.compile(r"(?:理由|原因|reason)\s*[:：]\s*(.+)", re.IGNORECASE)


class RatingPrompt(BaseModel):
    """A rating prompt data file (src/instructscale/data/rating_prompts/*.yaml)."""

    model_config = ConfigDict(extra="forbid")
    language: str
    system: str
    user_template: str
    no_input: str
    reask: str

    def messages(self, ex: InstructionExample) -> list[dict[str, str]]:
        user = self.user_template.format(instruction=ex.instruction, input=ex.input or self.no_input, output=ex.output)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def reask_messages(self, messages: list[dict[str, str]], bad_reply: str) -> list[dict[str, str]]:
        return [*messages, {"role": "assistant", "content": bad_reply}, {"role": "user", "content": self.reask}]


@lru_cache(maxsize=8)
def load_rating_prompt(spec: str) -> RatingPrompt:
    """`zh`, `en`, or a YAML file of the same shape."""
    if spec in BUILTIN:
        path = spec
        builtin = resources.files("instructscale").joinpath(f"data/rating_prompts/{spec}.yaml")
        data = yaml.safe_load(builtin.read_text("utf-8"))
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputError("rating prompt file not found (or use zh / en)", path=path)
        data = read_yaml(path)
    try:
        return RatingPrompt.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(err["msg"], path=path, field=".".join(map(str, err["loc"]))) from None


@dataclass(frozen=True)
class Rating:
    score: float | None  # 0-5, None when no valid rating came back
    reason: str | None = None  # the rater's reason, or why there is no score
    reasks: int = 0  # asks after the first (cached or not)


def parse_rating(reply: str | None) -> Rating:
    """The last `评分: x` / `Score: x` (x in 0-5, or `x/N` rescaled to 5) and the reason line."""
    text = unicodedata.normalize("NFKC", reply or "")
    matches = list(_RATING.finditer(text))
    if not matches:
        return Rating(None, "no rating found (expected '评分: x' or 'Score: x')")
    m = matches[-1]
    value = float(m.group(1))
    if m.group(2):
        value = value / float(m.group(2)) * MAX_RATING if float(m.group(2)) > 0 else -1.0
    if not 0.0 <= value <= MAX_RATING:
        return Rating(None, f"rating out of range 0-5: '{m.group(0).strip()}'")
    reason = _REASON.search(text)
    return Rating(value, reason.group(1).strip()[:200] if reason else None)


def rate_examples(examples: list[InstructionExample], client_cfg: ClientConfig, prompt: RatingPrompt, *,
                  reasks: int, cache_path: Path | None, out: Path) -> tuple[list[Rating], dict]:
    """One rating per example, in order, and what it cost (requests, cache hits, usage);
    in batch mode the batch journal lives beside `out`."""
    return asyncio.run(_rate_all(examples, client_cfg, prompt, reasks, cache_path, out))


async def _rate_all(examples, client_cfg, prompt, reasks, cache_path, out):
    cache = ReplyCache(cache_path) if cache_path is not None else None
    ratings: list[Rating | None] = [None] * len(examples)
    try:
        async with open_client(client_cfg, out) as client:
            pending = iter(range(len(examples)))
            with progress() as bar:
                task = bar.add_task("rate pool", total=len(examples))

                async def worker():
                    for i in pending:  # one shared iterator: each example is taken by exactly one worker
                        ratings[i] = await _rate_one(client, cache, prompt, examples[i], reasks)
                        bar.advance(task)

                await asyncio.gather(*(worker() for _ in range(worker_count(client_cfg, len(examples)))))
    finally:
        hits = cache.hits if cache is not None else 0
        if cache is not None:
            cache.close()
    rated = sum(r.score is not None for r in ratings)
    failed = [r.reason for r in ratings if r.reason and r.reason.startswith(API_ERROR)]
    return ratings, {"rated": rated, "unrated": len(ratings) - rated, "reasks": sum(r.reasks for r in ratings),
                     "api_failures": len(failed), "last_api_error": failed[-1] if failed else None,
                     "requests": client.usage.requests, "cache_hits": hits, "usage": client.usage.summary()}


async def _rate_one(client: ChatClient, cache: ReplyCache | None, prompt: RatingPrompt, ex: InstructionExample,
                    reasks: int) -> Rating:
    """Ask; if the reply has no valid rating, re-ask with the format reminder (bounded)."""
    messages = prompt.messages(ex)
    for attempt in range(reasks + 1):
        result = await cached_chat(client, cache, messages, tag=CACHE_TAG)
        if not result.ok:
            return Rating(None, API_ERROR + result.error, attempt)
        parsed = parse_rating(result.text)
        if parsed.score is not None:
            return Rating(parsed.score, parsed.reason, attempt)
        messages = prompt.reask_messages(messages, result.text)
    return Rating(None, f"no valid rating after {reasks + 1} replies: {parsed.reason}", reasks)


def estimate_rating(examples: list[InstructionExample], client_cfg: ClientConfig, prompt: RatingPrompt,
                    cache_path: Path | None) -> dict:
    """Requests, tokens and cost of rating `examples` (first asks only: re-asks are rare);
    examples whose first reply is cached cost nothing. Calls nothing, writes nothing."""
    asks = ((prompt.messages(ex), client_cfg.params, CACHE_TAG) for ex in examples)
    return {"examples": len(examples),
            **estimate_asks(client_cfg, asks, cache_path=cache_path, reply_tokens=ASSUMED_REPLY_TOKENS)}

