"""Report of a study with arms, on a synthetic run with planted arm effects: the quality
arm is 0.1 better than main on extraction at every tuned scale and equal on math; it was
trained with two seeds. The paired difference finds the planted gain, its CI excludes 0
there and covers 0 on math; every arm gets its own curve and verdicts."""

from __future__ import annotations

import csv
import json
import random

from instructscale.datafiles import write_jsonl
from instructscale.records import EvalItem, Judgement, Response
from instructscale.report import ReportConfig, build_report
from instructscale.runindex import RunIndex, ScaleEntry, save_index

ITEMS = 40
GAIN = 0.1


def planted(category: str, size: int, arm: str) -> float:
    if size == 0:
        return 0.1
    level = 0.3 + 0.1 * (size // 1000) if category == "extraction" else 0.5  # nothing clipped at 0 or 1
    return level + (GAIN if arm == "quality" and category == "extraction" else 0.0)


def make_arms_run(root):
    rng = random.Random(0)
    items = [EvalItem(id=f"{c}-{i:02d}", category=c, question=f"{c} question {i}?", reference="r")
             for c in ("math", "extraction") for i in range(ITEMS)]
    models = [("main", 0, None, "scale_0"), ("quality", 0, None, "scale_0")]
    models += [(arm, size, seed, f"scale_{size}{f'_seed{seed}' if seed else ''}{'' if arm == 'main' else '@quality'}")
               for size in (100, 1000) for arm, seeds in (("main", [0]), ("quality", [0, 1])) for seed in seeds]
    item_effect = {item.id: rng.gauss(0, 0.1) for item in items}  # shared by all models: pairing removes it
    responses, judgements = [], []
    for model in dict.fromkeys(m[3] for m in models):
        arm, size = next((m[0], m[1]) for m in models if m[3] == model)
        for item in items:
            responses.append(Response(item_id=item.id, model=model, response=f"{model} on {item.id}"))
            score = planted(item.category, size, arm) + item_effect[item.id] + rng.gauss(0, 0.03)
            judgements.append(Judgement(item_id=item.id, model=model, judge="judge", category=item.category,
                                        score=round(min(1.0, max(0.0, score)), 3)))
    write_jsonl(root / "eval.jsonl", items)
    write_jsonl(root / "responses.jsonl", responses)
    write_jsonl(root / "judgements.jsonl", judgements)
    scales = [ScaleEntry(model=model, size=size, label=str(size), subset=None, arm=arm, seed=seed)
              for arm, size, seed, model in models]
    save_index(root, RunIndex(name="arms", eval="eval.jsonl", scales=scales, responses=["responses.jsonl"],
                              judgements={"judge": "judgements.jsonl"}, primary_judge="judge"))
    return root


def test_arm_against_arm_finds_the_planted_gain_and_every_arm_has_its_curve(tmp_path):
    run_dir = make_arms_run(tmp_path / "run")
    summary = build_report(ReportConfig(run_dir=run_dir, bootstrap_samples=400))
    assert list(summary.arms) == ["main", "quality"]
    assert summary.rows == summary.arms["main"] and summary.scales == ["0", "100", "1000"]
    arms = json.loads((run_dir / "report" / "arms.json").read_text())
    diffs = {(d["category"], d["size"]): d for d in arms["differences"]}
    assert set(diffs) == {(c, s) for c in ("math", "extraction", "macro") for s in (100, 1000)}
    for size in (100, 1000):
        gain, same = diffs[("extraction", size)], diffs[("math", size)]
        assert abs(gain["delta"] - GAIN) < 0.03 and 0 < gain["ci_low"] < GAIN < gain["ci_high"]
        assert same["ci_low"] < 0 < same["ci_high"] and same["items"] == ITEMS
        assert abs(diffs[("macro", size)]["delta"] - GAIN / 2) < 0.02
    means = {(m["arm"], m["category"], m["size"]): m["mean"] for m in arms["means"]}
    assert means[("quality", "extraction", 1000)] - means[("main", "extraction", 1000)] > 0.05
    assert means[("quality", "math", 0)] == means[("main", "math", 0)]  # one shared base model
    html = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count('class="arm-composition"') == 0 and "Arm minus main" in html
    items = json.loads(html.split('id="items-data">')[1].split("</script>")[0])
    answers = next(i for i in items["items"] if i["id"] == "extraction-03")["answers"]
    assert {(a["arm"], a["label"]) for a in answers} == {
        ("main", "0"), ("quality", "0"), ("main", "100"), ("main", "1000"), ("quality", "100 seed 0"),
        ("quality", "100 seed 1"), ("quality", "1000 seed 0"), ("quality", "1000 seed 1")}
    board = {b["arm"]: b for b in csv.DictReader((run_dir / "report" / "leaderboard.csv").open())}
    assert (board["quality"]["rank"], board["main"]["rank"]) == ("1", "2")  # the planted gain ranks it first
    assert abs(float(board["quality"]["macro"]) - float(board["main"]["macro"]) - GAIN / 2) < 0.02
