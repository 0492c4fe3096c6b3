"""The respond stage: every model answers every evaluation item `n` times.

Story: load items → drop (model, item, sample) keys already final in the output file →
for each model, load it once and answer its pending jobs, appending each Response as soon
as it exists → count what the file now holds. One progress bar covers all models.
A response whose generation failed is written (never silently dropped) but is not final:
the next run removes it and tries again, so the file converges to one record per key.
The output file is locked for the run: a second process on it fails at once.
"""

from __future__ import annotations

import time

from instructscale.console import console, progress
from instructscale.datafiles import JsonlAppender, final_records, prepare_output
from instructscale.errors import ConfigError, InputError
from instructscale.evalset import read_eval_items
from instructscale.locks import exclusive
from instructscale.records import Response
from instructscale.respond.backend import Answer, Job, open_backend
from instructscale.respond.config import ModelCounts, RespondConfig, RespondSummary


def run_respond(cfg: RespondConfig) -> RespondSummary:
    if not cfg.models:
        raise ConfigError("no models to ask: give at least one --model")
    prepare_output(cfg.out)
    with exclusive(cfg.out, "the response file"):
        return _run(cfg)


def _run(cfg: RespondConfig) -> RespondSummary:
    started = time.monotonic()
    items = read_eval_items(cfg.eval)
    if len({i.id for i in items}) != len(items):
        raise InputError("item ids are not unique", path=cfg.eval, field="id")
    kept, torn = final_records(cfg.out, Response, _record_key, lambda r: r.error is None)
    done = set(map(_record_key, kept))
    pending = {spec.name: [Job(item, k) for item in items for k in range(cfg.n)
                           if (spec.name, item.id, k) not in done] for spec in cfg.models}
    gen = cfg.generation()
    summary = RespondSummary(out=str(cfg.out), backend=cfg.backend, generation=gen.model_dump(), torn=torn,
                             resumed=sum(1 for key in done if key[0] in pending))
    counts = {spec.name: ModelCounts(name=spec.name) for spec in cfg.models}
    for r in kept:
        if r.model in counts:
            _count_final(counts[r.model], r.truncated)

    with JsonlAppender(cfg.out) as writer, progress() as bar:
        task = bar.add_task("respond", total=sum(len(jobs) for jobs in pending.values()))
        for spec in cfg.models:
            jobs = pending[spec.name]
            if not jobs:
                continue
            bar.update(task, description=f"respond ({spec.name})")
            backend = open_backend(cfg, spec)
            settings = {"backend": cfg.backend, "preset": cfg.preset, **gen.model_dump(), "seed": cfg.seed,
                        **backend.settings}

            def emit(job: Job, out: Answer, name=spec.name, settings=settings) -> None:
                writer.write(Response(item_id=job.item.id, model=name, sample=job.sample, response=out.text,
                                      prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                                      truncated=out.truncated, settings=settings, error=out.error))
                counts[name].new += 1
                counts[name].errors += out.error is not None
                if out.error is None:
                    _count_final(counts[name], out.truncated)
                else:
                    summary.last_error = out.error
                summary.new += 1
                summary.errors += out.error is not None
                bar.advance(task)

            try:
                backend.generate(jobs, emit)
            finally:
                if getattr(backend, "usage", None):
                    summary.usage[spec.name] = backend.usage
                backend.close()

    summary.models = list(counts.values())
    if summary.errors:
        summary.incomplete = f"{summary.errors} responses failed; the next run redoes them"
        console.print(f"[yellow]{summary.errors} responses failed; rerun the same command to retry them")
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _count_final(counts: ModelCounts, truncated: bool) -> None:
    counts.responses += 1
    counts.truncated += bool(truncated)


def _record_key(r: Response) -> tuple[str, str, int]:
    return (r.model, r.item_id, r.sample)
