"""Everything a report needs from one run directory, read once through its index.

Item scores come from the judge package (`item_scores`: mean over scored repeats and
samples, unscored never counted as 0). A judgement without a category takes its
item's category, so every score lands in the right row.

A file holding one key twice (two processes wrote it, or a run was copied in twice)
would weigh that key double. Each key is kept once, with a warning naming the count and
how many of the repeats disagree: the kept record is the first one that is final (not
an API failure), else the first one, the same choice a rerun of the stage makes when it
rewrites its output file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from instructscale.categories import CATEGORY_IDS
from instructscale.console import console
from instructscale.datafiles import one_per_key, read_jsonl_resumable, read_records, validate_row
from instructscale.errors import InputError
from instructscale.judge import ItemScore, item_scores
from instructscale.judge.run import API_ERROR, RESPONSE_FAILED
from instructscale.locks import holder
from instructscale.records import EvalItem, Judgement, Response
from instructscale.report.sequential import SequentialRecord, load_record
from instructscale.runindex import RunIndex, ScaleEntry, load_index
from instructscale.subsets.manifest import SubsetsManifest, load_manifest


@dataclass
class RunData:
    index: RunIndex
    judge: str  # the primary judge
    items: dict[str, EvalItem]
    scales: list[ScaleEntry]  # smallest first
    responses: dict[tuple[str, str], list[Response]]  # (model, item_id) -> samples
    scores: dict[str, dict[tuple[str, str], ItemScore]]  # judge -> (model, item_id) -> score
    manifest: SubsetsManifest | None = None
    unknown_models: list[str] = field(default_factory=list)  # in judgements but not a scale
    judgements: dict[str, list[Judgement]] = field(default_factory=dict)  # judge -> records (per sample, repeat)
    warnings: list[str] = field(default_factory=list)  # e.g. a judge still being written: its means are partial
    sequential: SequentialRecord | None = None  # the looks of a sequential evaluation

    @property
    def name(self) -> str:
        return self.index.name

    @property
    def categories(self) -> list[str]:
        """Categories present in the evaluation set, in the study's order, unknown ones last."""
        present = {i.category for i in self.items.values()}
        order = {c: k for k, c in enumerate(CATEGORY_IDS)}
        return sorted(present, key=lambda c: (order.get(c, len(order)), c))

    def items_in(self, category: str) -> list[EvalItem]:
        return [i for i in self.items.values() if i.category == category]


def load_run(run_dir: str | Path, judge: str | None = None) -> RunData:
    index = load_index(run_dir)
    if not index.scales:
        raise InputError("the run index lists no scales", path=index.path)
    if not index.judgements:
        raise InputError("the run index lists no judgement files: run the judge stage first", path=index.path)
    judge = judge or index.primary_judge or next(iter(index.judgements))
    if judge not in index.judgements:
        raise InputError(f"no judgements by judge '{judge}' (have: {', '.join(index.judgements)})", path=index.path)
    items = {i.id: i for i in read_records(index.resolve(index.eval), EvalItem)}
    scales = sorted(index.scales, key=lambda s: s.size)
    models = {s.model for s in scales}

    responses: dict[tuple[str, str], list[Response]] = defaultdict(list)
    for rel in index.responses:
        for r in _read(index.resolve(rel), Response, _response_key):
            if r.model in models:
                responses[(r.model, r.item_id)].append(r)

    scores, unknown, raw, warnings = {}, set(), {}, []
    for name, rel in index.judgements.items():
        judgements = []
        for j in _judge_records(index.resolve(rel), name):
            if j.item_id not in items:
                continue
            if j.model not in models:
                unknown.add(j.model)
                continue
            judgements.append(j.model_copy(update={"category": items[j.item_id].category}))
        scores[name] = {(s.model, s.item_id): s for s in item_scores(judgements)}
        raw[name] = judgements
        why = _unfinished(index, name)
        if why:
            judged, expected = len({(j.model, j.item_id) for j in judgements}), len(items) * len(models)
            warnings.append(f"judge '{name}' is not finished ({why}): {judged} of {expected} answers judged so far, "
                            "so its means are partial")
            console.print(f"[yellow]warning: {warnings[-1]}[/yellow]")
    manifest = load_manifest(index.resolve(index.subsets_manifest)) if index.subsets_manifest else None
    sequential = load_record(index.resolve(index.sequential)) if index.sequential else None
    return RunData(index=index, judge=judge, items=items, scales=scales, responses=dict(responses),
                   scores=scores, manifest=manifest, unknown_models=sorted(unknown), judgements=raw, warnings=warnings,
                   sequential=sequential)


def _unfinished(index: RunIndex, name: str) -> str | None:
    """Why a judge's file may still grow: a process holds its lock (a judge run is appending
    to it), or its study unit's manifest says running or partial."""
    pid = holder(index.resolve(index.judgements[name]))
    if pid is not None:
        return f"its file is being written by PID {pid}"
    manifest = Path(index.path).parent / "manifests" / f"judge__{name}.json"
    status = json.loads(manifest.read_text(encoding="utf-8")).get("status") if manifest.is_file() else None
    return f"its study unit is {status}" if status in ("running", "partial") else None


def _judge_records(path: Path, name: str) -> list[Judgement]:
    """The index's judge name need not be the records' `judge` field (a study names its judges;
    the judge stage writes the judge model's name), so a file with one judge is taken whole."""
    records = _read(path, Judgement, _judgement_key)
    judges = {j.judge for j in records}
    if name in judges:
        return [j for j in records if j.judge == name]
    if len(judges) > 1:
        raise InputError(f"judgements of several judges ({', '.join(sorted(judges))}) and none named '{name}'",
                         path=path)
    return records


def _read(path: Path, cls, key):
    """Stage outputs are append-only files; a torn last line from a killed run is skipped,
    and a key written twice is kept once (see the module docstring)."""
    if not path.exists():
        raise InputError("file named in the run index is missing", path=path)
    rows, _ = read_jsonl_resumable(path, numbered=True)
    records = [validate_row(cls, row, path=path, line=line) for line, row in rows]
    kept, dropped = one_per_key(records, key, _final)
    if dropped:
        conflicting = {key(a) for a, b in dropped if _content(a) != _content(b)}
        console.print(f"[yellow]warning: {path}: {len(dropped)} duplicate records of {len(kept)} keys "
                      f"({len(conflicting)} keys with differing content); each key counted once, "
                      "the first final record kept[/yellow]")
    return kept


def _final(record) -> bool:
    """What a rerun of the stage would keep: not a failed call or a judgement of a failed response."""
    if isinstance(record, Response):
        return record.error is None
    return not record.error or not record.error.startswith((API_ERROR, RESPONSE_FAILED))


def _content(record) -> dict:
    return record.model_dump(exclude={"settings", "prompt_tokens", "completion_tokens"})


def _response_key(r: Response) -> tuple:
    return (r.model, r.item_id, r.sample)


def _judgement_key(j: Judgement) -> tuple:
    return (j.judge, j.model, j.item_id, j.sample, j.repeat)
