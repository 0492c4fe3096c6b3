import json
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import write_jsonl
from instructscale.errors import ConfigError
from instructscale.subsets import SubsetsConfig, human_size, load_manifest, make_subsets, stratified_order
from instructscale.datafiles import file_sha256

CATS = ["math", "code", "rewrite", "open_qa"]


def _pool(path: Path, n: int, cats=CATS) -> Path:
    write_jsonl(path, [{"instruction": f"task {i}", "output": f"answer {i}", "category": cats[(i * i) % len(cats)]}
                       for i in range(n)])
    return path


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(5, 80), seed=st.integers(0, 2**16), stratify=st.booleans(),
       fracs=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=4))
def test_subsets_are_nested_and_deterministic(n, seed, stratify, fracs):
    with tempfile.TemporaryDirectory() as tmp:
        pool = _pool(Path(tmp, "pool.jsonl"), n)
        sizes = sorted({max(1, round(f * n)) for f in fracs})
        a = make_subsets(SubsetsConfig(pool=pool, sizes=sizes, out=Path(tmp, "a"), seed=seed, stratify=stratify))
        b = make_subsets(SubsetsConfig(pool=pool, sizes=sizes, out=Path(tmp, "b"), seed=seed, stratify=stratify))
        assert [s.sha256 for s in a.subsets] == [s.sha256 for s in b.subsets]
        files = [_ids(a.subset_path(s)) for s in a.subsets]
        assert [len(f) for f in files] == sizes
        for small, large in zip(files, files[1:]):
            assert large[: len(small)] == small  # a smaller subset is a prefix (so a subset) of a larger one
        assert all(len(set(f)) == len(f) for f in files)


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.sampled_from("abcde"), min_size=1, max_size=120), seed=st.integers(0, 1000))
def test_stratified_prefixes_stay_within_one_of_quota(labels, seed):
    order = stratified_order(labels, seed)
    assert sorted(order) == list(range(len(labels)))
    totals = Counter(labels)
    seen = Counter()
    for s, i in enumerate(order, start=1):
        seen[labels[i]] += 1
        for label, total in totals.items():
            assert abs(seen[label] - s * total / len(labels)) < 1


def test_manifest_records_hashes_and_composition(tmp_path):
    pool = _pool(tmp_path / "pool.jsonl", 40)
    make_subsets(SubsetsConfig(pool=pool, sizes="0.25,0.5,40", out=tmp_path / "out", seed=3, stratify=True))
    m = load_manifest(tmp_path / "out" / "manifest.json")
    assert m.seed == 3 and m.pool_size == 40 and m.pool_sha256 == file_sha256(pool)
    assert [s.size for s in m.subsets] == [10, 20, 40]
    for s in m.subsets:
        assert s.sha256 == file_sha256(m.subset_path(s))
        assert sum(s.categories.values()) == s.size
    assert m.subsets[-1].categories == dict(sorted(Counter(CATS[(i * i) % 4] for i in range(40)).items()))


def test_different_seeds_give_different_subsets(tmp_path):
    pool = _pool(tmp_path / "pool.jsonl", 50)
    a = make_subsets(SubsetsConfig(pool=pool, sizes=[10], out=tmp_path / "a", seed=1))
    b = make_subsets(SubsetsConfig(pool=pool, sizes=[10], out=tmp_path / "b", seed=2))
    assert a.subsets[0].sha256 != b.subsets[0].sha256


def test_size_larger_than_pool_is_an_error(tmp_path):
    pool = _pool(tmp_path / "pool.jsonl", 10)
    with pytest.raises(ConfigError, match="larger than the pool"):
        make_subsets(SubsetsConfig(pool=pool, sizes=[5, 11], out=tmp_path / "o"))
    result = CliRunner().invoke(app, ["subsets", "--pool", str(pool), "--sizes", "5,11", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "larger than the pool" in result.output + str(result.exception)


def test_cli_writes_files_and_manifest(tmp_path):
    pool = _pool(tmp_path / "pool.jsonl", 30)
    result = CliRunner().invoke(app, ["subsets", "--pool", str(pool), "--sizes", "10,20", "--out",
                                      str(tmp_path / "o"), "--seed", "7", "--stratify"])
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert [s["file"] for s in m["subsets"]] == ["subset_10.jsonl", "subset_20.jsonl"]
    assert m["stratify"] is True and m["seed"] == 7


@pytest.mark.parametrize("n,label", [(200_000, "0.2M"), (2_000_000, "2M"), (1_500, "1.5K"), (50, "50")])
def test_human_size(n, label):
    assert human_size(n) == label


def test_pool_can_be_a_datasets_folder(tmp_path):
    from datasets import Dataset

    rows = [{"instruction": f"task {i}", "input": "", "output": f"answer {i}", "category": CATS[i % 4]}
            for i in range(20)]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "pool_ds"))
    a = make_subsets(SubsetsConfig(pool=tmp_path / "pool_ds", sizes=[5, 10], out=tmp_path / "a", seed=1))
    b = make_subsets(SubsetsConfig(pool=tmp_path / "pool_ds", sizes=[5, 10], out=tmp_path / "b", seed=1))
    assert a.pool_sha256 is not None and a.pool_sha256 == b.pool_sha256 and a.pool_size == 20
    assert [s.sha256 for s in a.subsets] == [s.sha256 for s in b.subsets]


def test_pool_categories_are_normalised_by_the_eval_set_rule(tmp_path):
    pool = tmp_path / "pool.jsonl"
    labels = ["Math ", "MATH", "math", "数学", "closed qa", "Closed-QA", None]
    write_jsonl(pool, [{"instruction": f"task {i}", "output": f"answer {i}", **({"category": c} if c else {})}
                       for i, c in enumerate(labels)])
    manifest = make_subsets(SubsetsConfig(pool=pool, sizes=[7], out=tmp_path / "out", stratify=True))
    assert manifest.subsets[0].categories == {"closed_qa": 2, "math": 4, "uncategorized": 1}
    rows = [json.loads(line) for line in (tmp_path / "out" / "subset_7.jsonl").read_text().splitlines()]
    assert sorted(r["category"] or "" for r in rows) == ["", "closed_qa", "closed_qa", "math", "math", "math", "math"]


def test_a_pool_category_outside_the_12_is_refused_naming_file_line_and_field_unless_a_policy_says(tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [{"instruction": f"task {i}", "output": "a", "category": c}
                       for i, c in enumerate(["math", "poetry", "code", "poetry"])])
    result = CliRunner().invoke(app, ["subsets", "--pool", str(pool), "--sizes", "2", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{pool}, line 2, field 'category': unknown category label 'poetry'" in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()
    other = make_subsets(SubsetsConfig(pool=pool, sizes=[4], out=tmp_path / "o", unknown="other"))
    assert other.subsets[0].categories == {"code": 1, "math": 1, "other": 2} and other.unknown_labels == {"poetry": 2}
    result = CliRunner().invoke(app, ["subsets", "--pool", str(pool), "--sizes", "2", "--out", str(tmp_path / "d"),
                                      "--unknown", "drop"])
    assert result.exit_code == 0, result.output
    assert load_manifest(tmp_path / "d" / "manifest.json").pool_size == 2


@pytest.mark.parametrize("stratify", [False, True])
def test_a_repeated_pool_row_or_id_is_in_a_subset_once(tmp_path, stratify):
    pool = tmp_path / "pool.jsonl"
    rows = [{"instruction": f"task {i}", "output": f"answer {i}", "category": "math"} for i in range(6)]
    copies = [rows[2], {**rows[4], "id": "given-id"}, {**rows[4], "id": "given-id"}, rows[0]]
    write_jsonl(pool, rows + copies)
    manifest = make_subsets(SubsetsConfig(pool=pool, sizes=[6], out=tmp_path / "out", stratify=stratify))
    ids = _ids(tmp_path / "out" / "subset_6.jsonl")
    prompts = [json.loads(line)["instruction"] for line in (tmp_path / "out" / "subset_6.jsonl").read_text().splitlines()]
    assert len(set(ids)) == 6 and sorted(prompts) == [f"task {i}" for i in range(6)]
    assert manifest.pool_size == 6 and manifest.duplicates == 4
    with pytest.raises(ConfigError, match="larger than the pool"):  # the copies do not count as examples
        make_subsets(SubsetsConfig(pool=pool, sizes=[7], out=tmp_path / "big"))


def test_one_id_for_two_different_pool_examples_is_an_error_naming_both_lines(tmp_path):
    from instructscale.errors import InputError

    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [{"id": "x", "instruction": "a", "output": "1"}, {"id": "y", "instruction": "b", "output": "2"},
                       {"id": "x", "instruction": "c", "output": "3"}])
    with pytest.raises(InputError, match=rf"^{pool}, line 3, field 'id': id 'x' was already used on line 1"):
        make_subsets(SubsetsConfig(pool=pool, sizes=[2], out=tmp_path / "out"))
