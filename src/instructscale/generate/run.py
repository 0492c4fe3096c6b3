"""The generate stage: self-instruct data from a teacher LLM, deduplicated on the fly.

Story: load seeds and what the output file already holds → index both for
near-duplicates → keep many generation requests in flight; each reply is parsed, every
task filtered and checked against the index, and each kept task is indexed at once and
appended to the output → stop at the target (or the request cap) → summarize the file.
A restart (also after kill -9) reloads the kept tasks, rebuilds the index and continues:
records are only ever appended whole, so nothing is lost or written twice. A failed
request leaves no record: the target is simply not reached yet, and the next run goes on
from the kept tasks. The output file is locked for the run.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter

from rich.progress import TextColumn

from instructscale.categories import CATEGORY_IDS
from instructscale.console import console, progress
from instructscale.datafiles import JsonlAppender, prepare_output, read_jsonl_resumable, validate_row
from instructscale.generate.config import GenerateConfig, GenerateSummary
from instructscale.generate.dedup import NearDupIndex
from instructscale.generate.filters import TaskFilter
from instructscale.generate.parse import ParsedTask, parse_tasks
from instructscale.generate.prompt import GenerationPrompt, load_prompt
from instructscale.generate.seeds import load_seed_tasks
from instructscale.generate.tagging import fallback_category, parse_category, tag_by_rules
from instructscale.llm import ReplyCache, estimate_cost, estimate_tokens
from instructscale.llm.batch import open_client, worker_count
from instructscale.llm.usage import cost_fields
from instructscale.locks import exclusive
from instructscale.records import InstructionExample

SOURCE = "self-instruct"
LABEL_TOKENS = 12  # per generated task: the three `N. 指令:` labels and the separator


def run_generate(cfg: GenerateConfig) -> GenerateSummary:
    if cfg.dry_run:
        return _run(cfg)
    prepare_output(cfg.out)
    with exclusive(cfg.out, "the generated pool"):
        return _run(cfg)


def _run(cfg: GenerateConfig) -> GenerateSummary:
    seeds = [InstructionExample(instruction=s.instruction, input=s.input, output=s.output, category=s.category,
                                source="seed") for s in load_seed_tasks(cfg.seeds)]
    prompt = load_prompt(cfg.prompt)
    kept, torn = _load_kept(cfg)
    summary = GenerateSummary(out=str(cfg.out), target=cfg.target, resumed=len(kept), torn=torn)
    if cfg.dry_run:
        summary.estimate = _estimate(cfg, prompt, seeds, max(0, cfg.target - len(kept)))
        summary.kept = len(kept)
        return summary
    if torn:
        console.print(f"[yellow]{cfg.out}: dropped a torn last line left by an interrupted run[/yellow]")
    if len(kept) < cfg.target:
        index = NearDupIndex(cfg.rouge_threshold, ngram=cfg.lsh_ngram, num_perm=cfg.lsh_num_perm,
                             bands=cfg.lsh_bands, rows=cfg.lsh_rows)
        for ex in seeds + kept:
            index.add(_dedup_text(cfg, ex))
        asyncio.run(Generator(cfg, prompt, seeds, kept, index, summary).run())
    final, _ = _load_kept(cfg)
    summary.kept = len(final)
    summary.reached_target = summary.kept >= cfg.target
    summary.categories = dict(Counter(ex.category or "untagged" for ex in final).most_common())
    if not summary.reached_target:  # failed requests, or the request cap: a study reruns it to go on
        why = (f"after {summary.failed_requests} failed requests" if summary.failed_requests
               else f"at the request cap of {cfg.request_cap} requests")
        summary.incomplete = f"{summary.kept}/{cfg.target} examples {why}; the next run goes on from the kept ones"
    return summary


def _dedup_text(cfg: GenerateConfig, ex: InstructionExample | ParsedTask) -> str:
    return ex.instruction if cfg.dedup_fields == "instruction" else f"{ex.instruction}\n{ex.input}"


def _load_kept(cfg: GenerateConfig) -> tuple[list[InstructionExample], int]:
    rows, torn = read_jsonl_resumable(cfg.out, numbered=True)
    return [validate_row(InstructionExample, row, path=cfg.out, line=n) for n, row in rows], torn


class Generator:
    """One run's loop: `concurrency` workers share the request budget and the index. Index
    checks and appends happen between awaits, so workers never race on them."""

    def __init__(self, cfg: GenerateConfig, prompt: GenerationPrompt, seeds: list[InstructionExample],
                 kept: list[InstructionExample], index: NearDupIndex, summary: GenerateSummary):
        self.cfg, self.prompt, self.seeds, self.kept, self.index, self.summary = cfg, prompt, seeds, kept, index, summary
        self.filter = TaskFilter(cfg)
        self.filtered: Counter = Counter()
        self.issued = 0  # requests sent
        self.processed = 0  # replies used, in request order
        self.turn = asyncio.Condition()
        self.round_start = (0, 0)  # batch mode: (new tasks, replies used) when the current round was set
        self.quota = self.next_round()  # batch mode: requests the current round may still issue

    def done(self) -> bool:
        return len(self.kept) >= self.cfg.target or self.issued >= self.cfg.request_cap

    async def run(self) -> None:
        cfg = self.cfg
        with JsonlAppender(cfg.out) as writer, progress(
                TextColumn("kept {task.fields[kept]} · filtered {task.fields[filtered]} · failed {task.fields[failed]}"
                           " · {task.fields[tokens]} tokens")) as bar:
            self.writer, self.bar = writer, bar
            self.task = bar.add_task("generate", total=cfg.target, completed=len(self.kept), kept=len(self.kept),
                                     filtered=0, failed=0, tokens=0)
            async with open_client(cfg.client, cfg.out) as client:
                self.client = client
                # batch mode: enough workers for any batch; next_round() decides how many ask each round
                await asyncio.gather(*(self.worker() for _ in range(worker_count(cfg.client, cfg.request_cap))))
                self.summary.usage = client.usage.summary()
                self.summary.requests = client.usage.requests
        self.summary.filtered = dict(self.filtered.most_common())
        if len(self.kept) < cfg.target:
            console.print(f"[yellow]stopped at the request cap ({cfg.request_cap} requests) with "
                          f"{len(self.kept)}/{cfg.target} examples; rerun to continue[/yellow]")

    def next_round(self) -> int:
        """Batch mode: requests for the next batch, set once every reply so far is used: what
        is missing at the tasks kept per request in the last round (all of them before any
        reply; the share falls as the pool fills), plus a quarter, within the request cap."""
        new, processed = self.round_start
        per_request, margin = ((self.summary.new - new) / (self.processed - processed), 1.25) \
            if self.processed > processed else (self.cfg.num_new_tasks, 1.0)
        self.round_start = (self.summary.new, self.processed)
        need = math.ceil(margin * (self.cfg.target - len(self.kept)) / max(per_request, 1.0))
        return max(0, min(need, self.cfg.request_cap - self.issued))

    async def worker(self) -> None:
        while not self.done():
            if self.cfg.client.batch:
                if not self.quota:  # this round is out: wait for its replies to set the next one
                    async with self.turn:
                        await self.turn.wait_for(lambda: self.quota > 0 or self.done())
                    continue
                self.quota -= 1
            self.issued += 1
            number = self.issued
            messages, start = self.request(number)
            # the key names request `number` of this resume point, so a rerun finds it in a recorded batch
            key = ReplyCache.key(self.cfg.client.model, messages, self.cfg.client.params,
                                 f"generate/{self.summary.resumed}/{number}")
            result = await self.client.chat(messages, key=key)
            async with self.turn:  # replies are used in request order, so a run's pool does not
                await self.turn.wait_for(lambda: self.processed == number - 1)  # depend on timing
                if len(self.kept) < self.cfg.target:
                    await self.use(result, start)
                self.processed = number
                if self.cfg.client.batch and self.processed == self.issued:
                    self.quota = self.next_round()
                self.turn.notify_all()

    async def use(self, result, start: int) -> None:
        self.summary.api_calls += 1
        if not result.ok:
            self.summary.failed_requests += 1
            self.summary.last_api_error = result.error
        else:
            parsed = parse_tasks(result.text, start, truncated=result.finish_reason == "length")
            self.filtered.update(parsed.errors)
            self.summary.parsed += len(parsed.tasks)
            accepted = [ex for ex in map(self.accept, parsed.tasks) if ex is not None]
            for ex in accepted:
                if ex.category is None:
                    ex.category = await self.tag(ex)
                self.writer.write(ex)
        usage = self.client.usage
        self.bar.update(self.task, completed=len(self.kept), kept=len(self.kept),
                        filtered=sum(self.filtered.values()), failed=self.summary.failed_requests,
                        tokens=usage.prompt_tokens + usage.completion_tokens)

    def request(self, number: int) -> tuple[list[dict], int]:
        """Examples for one request: seeds, plus generated tasks when mix_generated > 0. The
        draw is seeded by the run's seed, the resume point and the request number, so a
        resumed run does not repeat the prompts of the first one."""
        cfg = self.cfg
        rng = random.Random(f"{cfg.seed}|{self.summary.resumed}|{number}")
        mixed = rng.sample(self.kept, min(cfg.mix_generated, len(self.kept), cfg.num_seed_examples))
        examples = rng.sample(self.seeds, min(cfg.num_seed_examples - len(mixed), len(self.seeds))) + mixed
        return self.prompt.render(examples, cfg.num_new_tasks)

    def accept(self, task: ParsedTask) -> InstructionExample | None:
        """Filter and deduplicate one task; a kept task is indexed and counted at once."""
        if len(self.kept) >= self.cfg.target:
            return None  # replies still in flight when the target was reached
        reason = self.filter.reason(task)
        if reason is None:
            reason, handle = self.index.check(_dedup_text(self.cfg, task))
        if reason is not None:
            self.filtered[reason] += 1
            return None
        self.index.add(_dedup_text(self.cfg, task), handle)
        ex = InstructionExample(instruction=task.instruction, input=task.input, output=task.output,
                                category=tag_by_rules(task.instruction, task.input), source=SOURCE)
        self.kept.append(ex)
        self.summary.new += 1
        return ex

    async def tag(self, ex: InstructionExample) -> str:
        if self.cfg.tag_with_teacher and self.prompt.tag_prompt:
            result = await self.client.chat(self.prompt.tag_messages(ex.instruction, ex.input, list(CATEGORY_IDS)),
                                            max_tokens=16, temperature=0.0)
            category = parse_category(result.text) if result.ok else None
            if category is not None:
                return category
        return fallback_category(ex.input)


def _estimate(cfg: GenerateConfig, prompt: GenerationPrompt, seeds: list[InstructionExample], needed: int) -> dict:
    """Tokens and cost if every generated task were kept (a lower bound: filters and
    duplicates raise it; in practice expect 1.5-3x), and at the request cap."""
    rng = random.Random(cfg.seed)
    sample = [prompt.render(rng.sample(seeds, min(cfg.num_seed_examples, len(seeds))), cfg.num_new_tasks)[0]
              for _ in range(20)]
    per_prompt = sum(estimate_tokens(m[0]["content"]) for m in sample) / len(sample)
    per_task = sum(estimate_tokens(s.instruction + s.input + s.output) for s in seeds) / len(seeds) + LABEL_TOKENS
    requests = -(-needed // cfg.num_new_tasks)
    prompt_tokens = int(requests * per_prompt)
    completion_tokens = int(requests * cfg.num_new_tasks * per_task)
    cap = min(cfg.request_cap, requests * 10) if requests else 0
    return {"needed": needed, "requests": requests, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, **cost_fields(cfg.client, prompt_tokens, completion_tokens),
            "request_cap": cfg.request_cap, "cost_usd_at_cap": estimate_cost(
                cfg.client.model, int(cap * per_prompt), int(cap * cfg.num_new_tasks * per_task),
                cfg.client.price_table, batch=cfg.client.batch)}
