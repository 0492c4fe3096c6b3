"""People's scores beside the judges': a blind rating sheet sampled from a run, and the
agreement of every judge with the scores annotators wrote into it.

The sheet is stratified: per category, answers spread evenly over the scales, as many as a
Spearman correlation needs for a 95% CI of the target width (Fisher z, var ~ 1.06 / (n - 3),
Bonett & Wright 2000; conservative for strong agreement). It shows question, reference and
answer only: which model answered and what the judges said stay in `<stem>.key.jsonl`, so
annotators are blind to both. Several sheets (annotators) may be read back: the human score
of an answer is their mean, and their own agreement is reported too.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from instructscale.datafiles import iter_rows, parse_json, read_jsonl_resumable, read_text, write_json, write_jsonl
from instructscale.errors import InputError
from instructscale.evalset.annotate import write_sheet
from instructscale.records import content_id
from instructscale.report.agreement import HUMAN_FILE, PairAgreement, alpha_ci, pair_agreement
from instructscale.report.load import load_run

SHEET_COLUMNS = ["id", "category", "question", "reference", "answer", "score", "comment"]
HUMANS = "human"


def items_for_width(width: float) -> int:
    """Answers per category for a 95% CI of Spearman's rho about `width` wide."""
    return math.ceil(3 + 1.06 * (2 * 1.96 / width) ** 2)


class SheetSummary(BaseModel):
    sheet: str
    key: str
    per_category: dict[str, int]


def write_rating_sheet(run_dir: str | Path, stem: str | Path, *, ci_width: float = 0.5, per_category: int | None = None,
                       seed: int = 0) -> SheetSummary:
    """Sample answers of the run's first arm's scales into `<stem>.csv` / `.jsonl` (+ `.key.jsonl`)."""
    run = load_run(run_dir)
    want = per_category or items_for_width(ci_width)
    arm = run.scales[0].arm
    scales = [s for s in run.scales if s.arm == arm]
    rng = random.Random(seed)
    rows, keys, counts = [], [], {}
    for category in run.categories:
        cells = [(s.model, i.id) for i in run.items_in(category) for s in scales if (s.model, i.id) in run.responses]
        by_scale: dict[str, list] = defaultdict(list)
        for cell in cells:
            by_scale[cell[0]].append(cell)
        for group in by_scale.values():
            rng.shuffle(group)
        chosen = [c for round_ in zip(*by_scale.values()) for c in round_][:want]  # round robin over scales
        taken = set(chosen)
        chosen += [c for c in cells if c not in taken][:max(0, want - len(chosen))]
        counts[category] = len(chosen)
        for model, item_id in chosen:
            item, answer = run.items[item_id], run.responses[(model, item_id)][0]
            row_id = content_id(model, item_id, str(answer.sample), prefix="r-")
            rows.append({"id": row_id, "category": category, "question": item.question,
                         "reference": item.reference or "", "answer": answer.response, "score": "", "comment": ""})
            keys.append({"id": row_id, "model": model, "item_id": item_id, "sample": answer.sample})
    order = list(range(len(rows)))
    rng.shuffle(order)  # neither category nor scale readable from the row order
    csv_path, _ = write_sheet([rows[k] for k in order], SHEET_COLUMNS, stem)
    key_path = Path(stem).with_suffix(".key.jsonl")
    write_jsonl(key_path, [keys[k] for k in order])
    return SheetSummary(sheet=str(csv_path), key=str(key_path), per_category=counts)


def read_scores(sheet: str | Path, ids: set[str]) -> dict[str, float]:
    """id -> score of the rows an annotator scored; a bad score or unknown id names file, line, field."""
    out: dict[str, float] = {}
    for line, row in iter_rows(sheet):
        rid = str(row.get("id") or "")
        if rid not in ids:
            raise InputError(f"id '{rid}' is not in the sheet's key", path=sheet, line=line, field="id")
        text = str(row.get("score") if row.get("score") is not None else "").strip()
        if not text:
            continue  # not rated (yet)
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"score '{text}' is not a number", path=sheet, line=line, field="score") from None
        if not 0.0 <= value <= 1.0:
            raise InputError(f"score {value:g} is outside [0, 1]", path=sheet, line=line, field="score")
        out[rid] = value
    return out


class HumanAgreement(BaseModel):
    sheets: list[str]
    rated: int  # answers with at least one human score
    rows: list[PairAgreement]  # (judge, human) per category and `all`; (human, human) when several sheets


def human_agreement(sheets: list[str | Path], run_dir: str | Path, key: str | Path | None = None,
                    samples: int = 1000, seed: int = 0) -> HumanAgreement:
    """Agreement of every judge of the run with the people's scores; written to RUN_DIR/human/agreement.json."""
    key = Path(key) if key else Path(sheets[0]).with_suffix(".key.jsonl")
    if not key.exists():
        raise InputError("the sheet's key file is missing (written next to the sheet by `judge sheet`)", path=key)
    answers = {r["id"]: (r["model"], r["item_id"]) for r in read_jsonl_resumable(key)[0]}
    per_sheet = [read_scores(s, set(answers)) for s in sheets]
    rated = sorted(set().union(*per_sheet))
    if not rated:
        raise InputError("no row has a score: annotators write 0-1 in the 'score' column", path=sheets[0],
                         field="score")
    human = {rid: sum(s[rid] for s in per_sheet if rid in s) / sum(rid in s for s in per_sheet) for rid in rated}
    run = load_run(run_dir)
    rows = []
    for judge, scores in run.scores.items():
        for category in [*run.categories, "all"]:
            ids = [rid for rid in rated if (s := scores.get(answers[rid])) is not None and s.score is not None
                   and category in ("all", s.category)]
            if ids:
                rows.append(pair_agreement((judge, HUMANS), category, [scores[answers[r]].score for r in ids],
                                           [human[r] for r in ids], samples, seed))
    if len(per_sheet) > 1:  # the annotators among themselves
        alpha, lo, hi = alpha_ci(np.array([[s.get(rid, np.nan) for s in per_sheet] for rid in rated]), samples, seed)
        rows.append(PairAgreement(raters=(HUMANS, HUMANS), category="all", units=len(rated), alpha=alpha,
                                  alpha_low=lo, alpha_high=hi, spearman=None, mean_abs_diff=None))
    result = HumanAgreement(sheets=[str(s) for s in sheets], rated=len(rated), rows=rows)
    write_json(Path(run_dir) / HUMAN_FILE, result.model_dump(mode="json"))
    return result


def load_human_agreement(run_dir: str | Path) -> HumanAgreement | None:
    """What `judge agreement` wrote for this run, for the report (None: no sheet read back yet)."""
    path = Path(run_dir) / HUMAN_FILE
    if not path.exists():
        return None
    return HumanAgreement.model_validate(parse_json(read_text(path), path))
