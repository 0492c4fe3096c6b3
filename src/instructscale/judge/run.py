"""The judge stage: score every (response, repeat) and append one Judgement per key.

Story: load items and responses → drop keys already final in the output file → judge
the rest (LLM with cache, re-asks and bounded concurrency, or reference metrics) →
append each judgement as soon as it is done → summarize the whole output file.
A judgement whose API call failed is written (never silently dropped) but is not final:
the next run removes it and tries again, so the file ends with one record per key. The
same holds for a judgement of a failed response: once the response is redone, so is it.
The output file is locked for the run: a second process on it fails at once.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from dataclasses import dataclass

from instructscale.console import console, progress
from instructscale.datafiles import JsonlAppender, final_records, iter_rows, prepare_output, validate_row
from instructscale.errors import InputError
from instructscale.judge.code_exec import NOT_RUN
from instructscale.judge.config import JudgeConfig, JudgeSummary
from instructscale.judge.context import CUT_NOTE, fit_inputs, is_context_overflow
from instructscale.judge.parse import parse_score
from instructscale.judge.prompts import PromptSet, load_prompt_set
from instructscale.judge.reference import RefOptions, score_reference
from instructscale.judge.summary import category_stats
from instructscale.llm import ChatClient, ReplyCache, cached_chat, estimate_asks, estimate_tokens
from instructscale.llm.batch import open_client, worker_count
from instructscale.locks import exclusive
from instructscale.evalset import read_eval_items
from instructscale.records import EvalItem, Judgement, Response

API_ERROR = "api: "  # prefix of retryable failures
RESPONSE_FAILED = "response failed: "  # the answer itself failed: redone once the response is
CONTEXT_OVERFLOW = "context overflow: "  # the judge's context cannot hold the request: final, unscored
CONTEXT_SHRINKS = 2  # times the inputs are halved after the server says the request is too long
MIN_INPUT_TOKENS = 64
DROPPED_REPLY = "re-asked without the earlier reply, which would not fit the judge's context"
REPLY_SEP = "\n\n[re-ask]\n\n"
ASSUMED_REPLY_TOKENS = 100  # dry-run guess for a judge reply: a short comment and the score


@dataclass(frozen=True)
class Job:
    item: EvalItem
    response: Response
    repeat: int


def run_judge(cfg: JudgeConfig) -> JudgeSummary:
    if cfg.dry_run:
        return _run(cfg)
    prepare_output(cfg.out)
    if cfg.scorer == "llm" and cfg.use_cache:
        prepare_output(cfg.cache_path)
        if cfg.cache_path.exists():
            ReplyCache(cfg.cache_path).close()  # a file that is no cache fails before the output is touched
    with exclusive(cfg.out, "the judgement file"):
        return _run(cfg)


def _run(cfg: JudgeConfig) -> JudgeSummary:
    items = {i.id: i for i in read_eval_items(cfg.eval)}
    responses, unknown = _load_responses(cfg, items)
    if unknown:
        console.print(f"[yellow]{unknown} responses refer to items not in {cfg.eval}; not judged[/yellow]")
    judge = cfg.judge_name
    repeats = cfg.repeats if cfg.scorer == "llm" else 1  # a metric gives the same score every time
    final = _final_judgements(cfg, judge)
    done = set(map(_record_key, final))
    jobs = [Job(items[r.item_id], r, k) for r in responses for k in range(repeats)
            if _key(judge, r.model, r.item_id, r.sample, k) not in done]
    summary = JudgeSummary(out=str(cfg.out), judge=judge, scorer=cfg.scorer, resumed=len(done),
                           unknown_items=unknown)
    prompt_set = load_prompt_set(cfg.prompts) if cfg.scorer == "llm" else None
    for category in sorted({job.item.category for job in jobs}) if prompt_set else ():
        prompt_set.system_prompt(category, True)  # a missing prompt fails now, not mid-run
    if cfg.dry_run:
        summary.estimate = _estimate(cfg, jobs, prompt_set)
        return summary

    with recording(cfg.out, f"judge ({judge})", len(jobs), final, summary) as emit:
        if cfg.scorer == "reference":
            opts = RefOptions(code_timeout_s=cfg.code_timeout_s)
            for job in jobs:
                emit(_reference_judgement(job, opts))
        elif jobs:
            asyncio.run(_judge_llm(cfg, jobs, prompt_set, emit, summary))

    summary.rows = category_stats(final)
    summary.judgements = len(final)
    summary.unscored = sum(r.unscored for r in summary.rows)
    _count_failures(summary, final)
    _count_context(summary, final, cfg)
    return summary


def _count_context(summary: JudgeSummary, judgements: list[Judgement], cfg: JudgeConfig) -> None:
    """Inputs cut to fit the judge's context, and requests its context could not hold."""
    summary.inputs_cut = sum(CUT_NOTE in (j.note or "") for j in judgements)
    summary.context_overflows = sum((j.error or "").startswith(CONTEXT_OVERFLOW) for j in judgements)
    if summary.inputs_cut or summary.context_overflows:
        console.print(f"[yellow]{summary.inputs_cut} judgements had inputs cut to fit the judge's context "
                      f"(max_input_tokens={cfg.max_input_tokens}); {summary.context_overflows} unscored because "
                      "the judge's context could not hold the request[/yellow]")


def _count_failures(summary: JudgeSummary, judgements: list[Judgement]) -> None:
    """API failures and failed responses apart from replies without a score: only the
    first two are redone, and they make a study unit `partial`."""
    api = [j.error for j in judgements if is_api_failure(j)]
    summary.api_failures = len(api)
    summary.last_api_error = api[-1] if api else None
    summary.response_failures = sum((j.error or "").startswith(RESPONSE_FAILED) for j in judgements)
    summary.api_calls = summary.new - summary.response_failures
    not_run = sum((j.error or "").startswith(NOT_RUN) for j in judgements)  # no sandbox: redone once there is
    if summary.api_failures or summary.response_failures or not_run:
        summary.incomplete = (f"{summary.api_failures} API failures, {summary.response_failures} failed responses"
                              + (f", {not_run} code items not run (no sandbox)" if not_run else "")
                              + "; the next run redoes them")


def is_api_failure(j: Judgement) -> bool:
    return (j.error or "").startswith(API_ERROR)


def _key(judge: str, model: str, item_id: str, sample: int, repeat: int) -> tuple:
    return (judge, model, item_id, sample, repeat)


def _load_responses(cfg: JudgeConfig, items: dict[str, EvalItem]) -> tuple[list[Response], int]:
    """One response per (model, item, sample): the first without an error, else the first
    (a response file may still hold a failed try next to its redone answer). Two different
    answers for one key are an error: judging either one would silently ignore the other."""
    chosen: dict[tuple, tuple[Response, str]] = {}  # key -> (response, where it was read)
    unknown = 0
    for path in cfg.responses:
        rows = 0
        for line, row in iter_rows(path):
            r, rows = validate_row(Response, row, path=path, line=line), rows + 1
            key = (r.model, r.item_id, r.sample)
            first = chosen.get(key)
            if r.item_id not in items:
                unknown += 1
            elif first is None or (first[0].error and not r.error):
                chosen[key] = (r, f"{path}, line {line}")
            elif not first[0].error and not r.error and first[0].response != r.response:
                raise InputError(f"a second, different response of model '{r.model}' to item '{r.item_id}' "
                                 f"(sample {r.sample}); the first is at {first[1]}. Keep one of them",
                                 path=path, line=line, field="response")
        if not rows:
            raise InputError("no records found", path=path)
    chosen = {key: r for key, (r, _) in chosen.items()}
    out = list(chosen.values())
    if not out:
        raise InputError("no responses match items of the evaluation set", path=cfg.responses[0])
    return out, unknown


def _final_judgements(cfg: JudgeConfig, judge: str) -> list[Judgement]:
    """This judge's final judgements in the output file; API failures are retried next run."""
    if cfg.dry_run and not cfg.out.exists():
        return []
    keep, _ = final_records(cfg.out, Judgement, _record_key,
                            lambda j: not (is_api_failure(j) or (j.error or "").startswith((RESPONSE_FAILED, NOT_RUN))),
                            rewrite=not cfg.dry_run)
    return [j for j in keep if j.judge == judge]


def _record_key(j: Judgement) -> tuple:
    return _key(j.judge, j.model, j.item_id, j.sample, j.repeat)


def _base(job: Job, judge: str) -> dict:
    r = job.response
    return {"item_id": r.item_id, "model": r.model, "judge": judge, "repeat": job.repeat, "sample": r.sample,
            "category": job.item.category}


def _reference_judgement(job: Job, opts: RefOptions) -> Judgement:
    if job.response.error:
        return Judgement(**_base(job, "reference"), error=RESPONSE_FAILED + job.response.error)
    score, error = score_reference(job.item, job.response.response, opts)
    return Judgement(**_base(job, "reference"), score=score, error=error)


async def _judge_llm(cfg: JudgeConfig, jobs: list[Job], prompt_set: PromptSet, emit, summary: JudgeSummary):
    await ask_all(cfg, jobs, lambda client, cache, job: _judge_one(cfg, client, cache, prompt_set, job), emit,
                  summary)


@contextmanager
def recording(out, label: str, total: int, final: list, summary):
    """`emit(record)` for a judge run: appended to `out` as it exists (a kill loses only calls
    in flight), kept in `final`, counted in `summary.new`, shown on a progress bar."""
    with JsonlAppender(out) as writer, progress() as bar:
        task = bar.add_task(label, total=total)

        def emit(record) -> None:
            writer.write(record)
            final.append(record)
            summary.new += 1
            bar.advance(task)

        yield emit


async def ask_all(cfg, jobs: list, judge_one, emit, summary) -> None:
    """Every job through `judge_one(client, cache, job)` with the client's concurrency (or one
    batch queue), each result handed to `emit` as it exists; the client's usage and the cache
    hits land in `summary`. Shared by the absolute and the pairwise judge."""
    cache = ReplyCache(cfg.cache_path) if cfg.use_cache else None
    try:
        async with open_client(cfg.client, cfg.out) as client:
            pending = iter(jobs)

            async def worker():
                for job in pending:  # one shared iterator: each job is taken by exactly one worker
                    emit(await judge_one(client, cache, job))

            await asyncio.gather(*(worker() for _ in range(worker_count(cfg.client, len(jobs)))))
            summary.requests = client.usage.requests
            summary.usage = client.usage.summary()
    finally:
        if cache is not None:
            summary.cache_hits = cache.hits
            cache.close()


async def _judge_one(cfg: JudgeConfig, client: ChatClient, cache: ReplyCache | None, prompt_set: PromptSet,
                     job: Job) -> Judgement:
    """Ask; if the reply has no valid score, re-ask with a format reminder (bounded). Every
    request fits the judge's context: inputs are cut to `max_input_tokens`, a re-ask carries
    only the latest reply (none when that would not fit), and a server that still says the
    request is too long gets it with half the inputs, twice at most, then a final unscored
    judgement (retrying the same request could never succeed)."""
    base = _base(job, cfg.judge_name)
    if job.response.error:
        return Judgement(**base, error=RESPONSE_FAILED + job.response.error)
    overrides = {"seed": cfg.seed + job.repeat} if cfg.seed is not None else {}
    budget, shrinks = cfg.max_input_tokens, 0
    fitted = fit_inputs(job.item, job.response.response, budget)
    first = messages = prompt_set.messages(fitted.item, fitted.answer)
    replies: list[str] = []
    dropped = False  # a re-ask went without the earlier reply
    while True:
        # a re-ask carries one reply, so two equal replies would make equal requests: the
        # cache tells them apart by the re-ask's number
        tag = job.repeat if messages is first else f"{job.repeat}/reask{len(replies)}"
        result = await cached_chat(client, cache, messages, tag=tag, **overrides)
        note = "; ".join(n for n in (fitted.note(budget), DROPPED_REPLY if dropped else None) if n) or None
        if not result.ok and is_context_overflow(result.error) and shrinks < CONTEXT_SHRINKS:
            shrinks, budget = shrinks + 1, max(MIN_INPUT_TOKENS, fitted.tokens // 2)
            fitted = fit_inputs(job.item, job.response.response, budget)
            first = messages = prompt_set.messages(fitted.item, fitted.answer)
            continue
        if not result.ok:
            prefix = CONTEXT_OVERFLOW if is_context_overflow(result.error) else API_ERROR
            return Judgement(**base, raw=REPLY_SEP.join(replies), error=prefix + result.error, note=note)
        replies.append(result.text)
        parsed = parse_score(result.text, fitted.answer)  # a score quoted from the answer is not the judge's
        if parsed.ok:
            return Judgement(**base, score=parsed.score, raw=result.text, note=note)
        if len(replies) > cfg.reasks:
            return Judgement(**base, raw=REPLY_SEP.join(replies), note=note,
                             error=f"no valid score after {len(replies)} replies: {parsed.reason}")
        with_reply = fitted.tokens + estimate_tokens(result.text) <= budget
        dropped = dropped or not with_reply
        messages = prompt_set.reask_messages(first, result.text if with_reply else None)


def _estimate(cfg: JudgeConfig, jobs: list[Job], prompt_set: PromptSet | None) -> dict:
    """Requests, tokens and cost of the pending jobs, first asks only (re-asks are rare)."""
    if cfg.scorer == "reference":
        return {"judgements": len(jobs), "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    def asks():
        for job in jobs:
            fitted = fit_inputs(job.item, job.response.response, cfg.max_input_tokens)
            overrides = {"seed": cfg.seed + job.repeat} if cfg.seed is not None else {}
            yield prompt_set.messages(fitted.item, fitted.answer), {**cfg.client.params, **overrides}, job.repeat

    return {"judgements": len(jobs), **estimate_asks(cfg.client, asks(), reply_tokens=ASSUMED_REPLY_TOKENS,
                                                     cache_path=cfg.cache_path if cfg.use_cache else None)}
