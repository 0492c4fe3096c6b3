"""Pairwise judging: each answer against the reference answer for the same item, asked twice
with the two answers' positions swapped (Arena-Hard, MT-bench). A judge that prefers the
first (or second) position contradicts itself across the two orders, so a pair counts only
when both orders agree (ties allowed); the share that disagree is the inconsistency rate.

Story: load items, responses and the reference answers (`against`: the evaluation set's
golden answers, a model in the responses, or a Response file) → drop keys already final
in the output file → ask the rest (cache, re-asks, bounded concurrency, as the absolute
judge) → append one PairJudgement per (model, item, sample, repeat, order). Failed calls
and failed responses are written but not final: the next run redoes them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from instructscale.categories import CATEGORY_IDS
from instructscale.console import console
from instructscale.datafiles import final_records, prepare_output, read_records, read_yaml
from instructscale.errors import ConfigError, InputError
from instructscale.evalset import read_eval_items
from instructscale.judge.config import JudgeConfig, JudgeSummary
from instructscale.judge.context import CUT_NOTE, fit_texts, is_context_overflow
from instructscale.judge.run import (API_ERROR, ASSUMED_REPLY_TOKENS, CONTEXT_OVERFLOW, REPLY_SEP, RESPONSE_FAILED,
                                     _count_context, _count_failures, _load_responses, ask_all,
                                     recording)
from instructscale.judge.verdict import parse_verdict
from instructscale.llm import ReplyCache, cached_chat, estimate_asks
from instructscale.locks import exclusive
from instructscale.records import EvalItem, PairJudgement, Response

GOLDEN = "golden"  # `against` naming the evaluation set's own reference answers
BUILTIN = ("zh", "en")
OUTCOME = {"win": 1.0, "tie": 0.5, "loss": 0.0}


class PairwiseConfig(JudgeConfig):
    """The absolute judge's settings (client, cache, repeats, re-asks, context) plus the
    reference answers every answer is compared with."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # `against: 2000` names a scale

    against: str = Field(GOLDEN, description="Reference answers: 'golden' (the evaluation set's), a model name "
                                             "in the responses, or a Response JSON Lines file")
    repeats: int = Field(1, ge=1, description="Judgements per answer and order")
    prompts: str = Field("zh", description="Pairwise prompt set: zh, en, or a YAML file of the same shape")
    items_per_category: int | None = Field(None, ge=1, description="Judge only this many items per category, the "
                                           "same ones for every model (the first by a hash of their id); None: all")

    @model_validator(mode="after")
    def _llm_only(self):
        if self.scorer != "llm":
            raise ConfigError("a pairwise judge is an LLM judge (scorer llm)")
        return self


class PairPrompts(BaseModel):
    language: str
    system: str
    user_template: str
    user_template_no_reference: str
    reask: str

    def messages(self, question: str, reference: str | None, answer_a: str, answer_b: str) -> list[dict[str, str]]:
        template = self.user_template if reference else self.user_template_no_reference
        user = template.format(question=question, reference=reference or "", answer_a=answer_a, answer_b=answer_b)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@lru_cache(maxsize=4)
def _builtin(language: str) -> PairPrompts:
    text = resources.files("instructscale").joinpath(f"data/pairwise_prompts/{language}.yaml").read_text("utf-8")
    return PairPrompts.model_validate(yaml.safe_load(text))


def load_pair_prompts(spec: str) -> PairPrompts:
    """`zh`, `en`, or a YAML file; keys it leaves out come from the built-in set of its language."""
    if spec in BUILTIN:
        return _builtin(spec)
    path = Path(spec)
    if not path.exists():
        raise InputError("pairwise prompt file not found (or use zh / en)", path=path)
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise InputError("expected a mapping (system, user_template, ...)", path=path)
    base = _builtin(data.get("language") if data.get("language") in BUILTIN else "en").model_dump()
    try:
        return PairPrompts.model_validate({**base, **data})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(err["msg"], path=path, field=".".join(map(str, err["loc"]))) from None


class PairStats(BaseModel):
    model: str
    category: str
    pairs: int  # (item, sample, repeat) with both orders judged
    wins: int  # both orders agree
    ties: int
    losses: int
    inconsistent: int  # the two orders disagree: left out of the win rate
    unscored: int  # judgements without a valid verdict
    win_rate: float | None  # (wins + ties / 2) / consistent pairs


class PairwiseSummary(JudgeSummary):
    against: str = ""
    pair_rows: list[PairStats] = []
    no_reference: int = 0  # answers whose item has no reference answer: not judged


@dataclass(frozen=True)
class PairJob:
    item: EvalItem
    response: Response
    other: str  # the reference answer
    repeat: int
    swapped: bool


@dataclass(frozen=True)
class Pair:
    """Both orders of one (model, item, sample, repeat): `outcome` 1 / 0.5 / 0 when they agree,
    None when they disagree or one has no verdict."""

    model: str
    against: str
    item_id: str
    category: str
    sample: int
    repeat: int
    verdicts: tuple[str | None, str | None]  # (model's answer first, model's answer second)

    @property
    def consistent(self) -> bool:
        return self.verdicts[0] is not None and self.verdicts[0] == self.verdicts[1]

    @property
    def outcome(self) -> float | None:
        return OUTCOME[self.verdicts[0]] if self.consistent else None


def pairs(records: list[PairJudgement]) -> list[Pair]:
    """Judgements joined by order; a key with one order only is no pair yet."""
    by_key: dict[tuple, dict[bool, PairJudgement]] = defaultdict(dict)
    for r in records:
        by_key[(r.model, r.against, r.item_id, r.sample, r.repeat)][r.swapped] = r
    return [Pair(model=k[0], against=k[1], item_id=k[2], category=v[False].category or "other", sample=k[3],
                 repeat=k[4], verdicts=(v[False].verdict, v[True].verdict))
            for k, v in by_key.items() if len(v) == 2]


def pair_stats(records: list[PairJudgement]) -> list[PairStats]:
    """One row per (model, category), models in first-seen order, categories in the study's order."""
    groups: dict[tuple[str, str], list[Pair]] = defaultdict(list)
    for p in pairs(records):
        groups[(p.model, p.category)].append(p)
    unscored: dict[tuple[str, str], int] = defaultdict(int)
    for r in records:
        unscored[(r.model, r.category or "other")] += r.verdict is None
    models = list(dict.fromkeys(r.model for r in records))
    order = {c: i for i, c in enumerate(CATEGORY_IDS)}
    rows = []
    for (model, category), ps in sorted(groups.items(), key=lambda kv: (models.index(kv[0][0]),
                                                                         order.get(kv[0][1], 99), kv[0][1])):
        counts = {v: sum(p.consistent and p.verdicts[0] == v for p in ps) for v in OUTCOME}
        consistent = sum(counts.values())
        rows.append(PairStats(model=model, category=category, pairs=len(ps), wins=counts["win"], ties=counts["tie"],
                              losses=counts["loss"], inconsistent=len(ps) - consistent,
                              unscored=unscored[(model, category)],
                              win_rate=(counts["win"] + counts["tie"] / 2) / consistent if consistent else None))
    return rows


def run_pairwise(cfg: PairwiseConfig) -> PairwiseSummary:
    if cfg.dry_run:
        return _run(cfg)
    prepare_output(cfg.out)
    if cfg.use_cache:
        prepare_output(cfg.cache_path)
        if cfg.cache_path.exists():
            ReplyCache(cfg.cache_path).close()
    with exclusive(cfg.out, "the pairwise judgement file"):
        return _run(cfg)


def _run(cfg: PairwiseConfig) -> PairwiseSummary:
    items = {i.id: i for i in read_eval_items(cfg.eval)}
    responses, unknown = _load_responses(cfg, items)
    against, others = _reference_answers(cfg, items, responses)
    judge = cfg.judge_name
    final = _final(cfg, judge)
    done = {_record_key(r) for r in final}
    chosen = _chosen_items(items, cfg.items_per_category)
    candidates = [r for r in responses if r.model != against and r.item_id in chosen]
    jobs = [PairJob(items[r.item_id], r, others[r.item_id], k, swapped) for r in candidates if r.item_id in others
            for k in range(cfg.repeats) for swapped in (False, True)
            if (judge, r.model, against, r.item_id, r.sample, k, swapped) not in done]
    summary = PairwiseSummary(out=str(cfg.out), judge=judge, scorer="pairwise", against=against, resumed=len(done),
                              unknown_items=unknown, no_reference=sum(r.item_id not in others for r in candidates))
    if summary.no_reference:
        console.print(f"[yellow]{summary.no_reference} answers have no reference answer from '{against}'; "
                      "not judged[/yellow]")
    prompts = load_pair_prompts(cfg.prompts)
    if cfg.dry_run:
        asks = ((_messages(cfg, prompts, job)[0], {**cfg.client.params, **_seed(cfg, job)}, job.repeat) for job in jobs)
        summary.estimate = {"judgements": len(jobs), **estimate_asks(
            cfg.client, asks, reply_tokens=ASSUMED_REPLY_TOKENS, cache_path=cfg.cache_path if cfg.use_cache else None)}
        return summary
    with recording(cfg.out, f"pairwise judge ({judge} vs {against})", len(jobs), final, summary) as emit:
        if jobs:
            asyncio.run(_judge_all(cfg, jobs, prompts, against, emit, summary))
    summary.pair_rows = pair_stats(final)
    summary.judgements = len(final)
    summary.unscored = sum(r.verdict is None for r in final)
    _count_failures(summary, final)  # the absolute judge's counts: records of both kinds have error and note
    _count_context(summary, final, cfg)
    return summary


def _reference_answers(cfg: PairwiseConfig, items: dict[str, EvalItem],
                       responses: list[Response]) -> tuple[str, dict[str, str]]:
    """(name of the reference, item id -> its answer): the first answer without an error per item."""
    if cfg.against == GOLDEN:
        return GOLDEN, {i.id: i.reference for i in items.values() if i.reference}
    path = Path(cfg.against)
    if path.suffix in (".jsonl", ".json") or path.exists():
        refs = read_records(path, Response)
        names = sorted({r.model for r in refs})
        if len(names) != 1:
            raise InputError(f"a reference answers file holds one model's answers, found {len(names)}", path=path,
                             field="model")
        name = names[0]
    else:
        name, refs = cfg.against, [r for r in responses if r.model == cfg.against]
        if not refs:
            models = sorted({r.model for r in responses})
            raise ConfigError(f"against: no responses by model '{cfg.against}' (have: {', '.join(models)}; "
                              f"or '{GOLDEN}', or a Response file)")
    answers: dict[str, str] = {}
    for r in sorted(refs, key=lambda r: r.sample):
        if r.error is None and r.item_id in items:
            answers.setdefault(r.item_id, r.response)
    return name, answers


def _chosen_items(items: dict[str, EvalItem], per_category: int | None) -> set[str]:
    """A fixed sample per category: pairs cost two requests per answer, so a study may judge fewer items."""
    if per_category is None:
        return set(items)
    by_category: dict[str, list[str]] = defaultdict(list)
    for item_id in sorted(items, key=lambda i: hashlib.sha256(i.encode()).hexdigest()):
        by_category[items[item_id].category].append(item_id)
    return {i for ids in by_category.values() for i in ids[:per_category]}


def _final(cfg: PairwiseConfig, judge: str) -> list[PairJudgement]:
    if cfg.dry_run and not cfg.out.exists():
        return []
    keep, _ = final_records(cfg.out, PairJudgement, _record_key,
                            lambda r: not (r.error or "").startswith((API_ERROR, RESPONSE_FAILED)),
                            rewrite=not cfg.dry_run)
    return [r for r in keep if r.judge == judge]


def _record_key(r: PairJudgement) -> tuple:
    return (r.judge, r.model, r.against, r.item_id, r.sample, r.repeat, r.swapped)


def _seed(cfg: PairwiseConfig, job: PairJob) -> dict:
    return {"seed": cfg.seed + job.repeat} if cfg.seed is not None else {}


def _messages(cfg: PairwiseConfig, prompts: PairPrompts, job: PairJob) -> tuple[list[dict], str | None]:
    """The judge conversation, inputs cut to `max_input_tokens`; (messages, note on cutting).
    The standard answer is shown unless it is itself the opponent."""
    reference = job.item.reference if cfg.against != GOLDEN else None
    texts, cut, _ = fit_texts({"question": job.item.question, "reference": reference or "",
                               "answer": job.response.response, "other": job.other}, cfg.max_input_tokens)
    a, b = (texts["other"], texts["answer"]) if job.swapped else (texts["answer"], texts["other"])
    note = f"{CUT_NOTE} (~{cfg.max_input_tokens} tokens): {', '.join(cut)}" if cut else None
    return prompts.messages(texts["question"], texts["reference"] or None, a, b), note


async def _judge_all(cfg, jobs, prompts, against, emit, summary) -> None:
    await ask_all(cfg, jobs, lambda client, cache, job: _judge_one(cfg, client, cache, prompts, against, job), emit,
                  summary)


async def _judge_one(cfg, client, cache, prompts: PairPrompts, against: str, job: PairJob) -> PairJudgement:
    """Ask; re-ask with a reminder while the reply has no verdict (bounded). A request the
    judge's context cannot hold is final and unscored."""
    r = job.response
    base = {"item_id": r.item_id, "model": r.model, "against": against, "judge": cfg.judge_name,
            "swapped": job.swapped, "repeat": job.repeat, "sample": r.sample, "category": job.item.category}
    if r.error:
        return PairJudgement(**base, error=RESPONSE_FAILED + r.error)
    first, note = _messages(cfg, prompts, job)
    messages, replies = first, []
    while True:
        tag = job.repeat if messages is first else f"{job.repeat}/reask{len(replies)}"
        result = await cached_chat(client, cache, messages, tag=tag, **_seed(cfg, job))
        if not result.ok:
            prefix = CONTEXT_OVERFLOW if is_context_overflow(result.error) else API_ERROR
            return PairJudgement(**base, raw=REPLY_SEP.join(replies), error=prefix + result.error, note=note)
        replies.append(result.text)
        parsed = parse_verdict(result.text)
        if parsed.ok:
            first_wins = {"A": "win", "B": "loss", "tie": "tie"}[parsed.side]
            verdict = {"win": "loss", "loss": "win", "tie": "tie"}[first_wins] if job.swapped else first_wins
            return PairJudgement(**base, verdict=verdict, raw=result.text, note=note)
        if len(replies) > cfg.reasks:
            return PairJudgement(**base, raw=REPLY_SEP.join(replies), note=note,
                                 error=f"no valid verdict after {len(replies)} replies: {parsed.reason}")
        messages = [*first, {"role": "assistant", "content": result.text}, {"role": "user", "content": prompts.reask}]


def pair_table(rows: list[PairStats], title: str = ""):
    from rich.table import Table

    table = Table(title=title)
    for name in ("model", "category", "pairs", "win", "tie", "loss", "inconsistent", "unscored", "win rate"):
        table.add_column(name, no_wrap=True, justify="left" if name in ("model", "category") else "right")
    for r in rows:
        table.add_row(r.model, r.category, str(r.pairs), str(r.wins), str(r.ties), str(r.losses),
                      f"{r.inconsistent / r.pairs:.0%}" if r.pairs else "-", str(r.unscored),
                      "-" if r.win_rate is None else f"{r.win_rate:.3f}")
    return table
