"""Pool examples that overlap the evaluation set are removed before any subset is drawn.

Uses the real decontamination check, `instructscale.evalset.find_overlaps`."""

import json

import pytest

from instructscale.datafiles import write_jsonl
from instructscale.errors import ConfigError
from instructscale.subsets import SubsetsConfig, load_manifest, make_subsets

QUESTIONS = ["请把下面这句话翻译成英文：今天天气很好，我们去公园散步吧。",
             "一个长方形的长是8厘米，宽是5厘米，它的面积是多少平方厘米？",
             "写一首关于秋天落叶的五言绝句，要求押韵。"]


def test_overlapping_examples_never_reach_a_subset(tmp_path):
    eval_path = tmp_path / "eval.jsonl"
    write_jsonl(eval_path, [{"category": "generation", "question": q, "reference": "参考答案"}
                            for q in QUESTIONS])
    clean = [{"instruction": f"第 {i} 题：计算 {i} 加 {i * 3} 等于多少，并说明理由。", "output": str(4 * i),
              "category": "math"} for i in range(27)]
    leaked = [{"instruction": q, "output": "泄漏的答案", "category": "generation"} for q in QUESTIONS]
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, clean[:10] + leaked + clean[10:])

    m = make_subsets(SubsetsConfig(pool=pool, sizes=[10, 27], out=tmp_path / "out", seed=0, exclude_eval=eval_path))
    assert m.excluded == 3 and m.pool_size == 27 and m.exclude_eval == str(eval_path)
    assert load_manifest(tmp_path / "out").excluded == 3
    lines = (tmp_path / "out" / "subset_27.jsonl").read_text().splitlines()
    chosen = [json.loads(line)["instruction"] for line in lines]
    assert not set(chosen) & set(QUESTIONS) and len(chosen) == 27
    assert "generation" not in m.subsets[-1].categories

    with pytest.raises(ConfigError, match="larger than the pool"):  # sizes count the usable pool only
        make_subsets(SubsetsConfig(pool=pool, sizes=[28], out=tmp_path / "o2", exclude_eval=eval_path))
