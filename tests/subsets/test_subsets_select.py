"""Selection at equal size: llm-quality (offline teacher and fake server as raters), ifd
on a tiny model, length, diversity, category mixes; nested and deterministic throughout."""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.datafiles import read_records, write_jsonl
from instructscale.demo import serve
from instructscale.demo.noise import is_planted
from instructscale.demo.world import sample_tasks
from instructscale.errors import ConfigError
from instructscale.llm import ClientConfig
from instructscale.records import InstructionExample
from instructscale.subsets import SelectConfig, SubsetsConfig, estimate_subsets, make_subsets
from instructscale.subsets.mix import category_shares, mixed_order
from instructscale.subsets.quality import parse_rating

NOISE = 0.25


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def _subset_ids(manifest) -> list[list[str]]:
    return [_ids(manifest.subset_path(s)) for s in manifest.subsets]


def _assert_nested(files: list[list[str]]) -> None:
    for small, large in zip(files, files[1:]):
        assert large[: len(small)] == small
    assert all(len(set(f)) == len(f) for f in files)


def _scores(manifest) -> list[dict]:
    path = manifest.path.parent / manifest.selection.scores_file
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def noisy_pool(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("noisy") / "pool.jsonl"
    write_jsonl(path, sample_tasks(240, seed=0, noise_rate=NOISE))
    return path


@pytest.fixture(scope="module")
def teacher():
    srv = serve(noise_rate=NOISE)
    yield srv
    srv.stop()


def _quality(server, cache: Path, **extra) -> SelectConfig:
    return SelectConfig(method="llm-quality", client=ClientConfig(base_url=server.base_url, model="demo-teacher"),
                        cache=cache, **extra)


def test_planted_examples_never_enter_the_top_subsets(noisy_pool, teacher, tmp_path):
    pool = read_records(noisy_pool, InstructionExample)
    planted = {ex.id for ex in pool if is_planted(ex.instruction, ex.input, NOISE)}
    assert 40 < len(planted) < 80
    sizes = [60, 120, len(pool) - len(planted) - 10]
    m = make_subsets(SubsetsConfig(pool=noisy_pool, sizes=sizes, out=tmp_path / "q", seed=1,
                                   select=_quality(teacher, tmp_path / "cache.sqlite")))
    files = _subset_ids(m)
    _assert_nested(files)
    assert not planted & set(files[-1])
    random_m = make_subsets(SubsetsConfig(pool=noisy_pool, sizes=sizes, out=tmp_path / "r", seed=1))
    assert planted & set(_subset_ids(random_m)[0])  # at equal size, random selection takes planted ones
    assert m.selection.method == "llm-quality" and m.selection.settings["model"] == "demo-teacher"
    assert m.selection.summary["rated"] + m.selection.summary["unrated"] == len(pool)
    rows = _scores(m)
    assert [r["rank"] for r in rows] == list(range(1, len(pool) + 1)) and {r["id"] for r in rows} == {e.id for e in pool}
    bad = [r["score"] for r in rows if r["id"] in planted and r["score"] is not None]
    good = [r["score"] for r in rows if r["id"] not in planted and r["score"] is not None]
    assert max(bad) < min(good)


def test_rerun_makes_no_requests_and_gives_the_same_subsets(noisy_pool, teacher, tmp_path):
    cfg = dict(pool=noisy_pool, sizes=[50, 100], seed=2, select=_quality(teacher, tmp_path / "cache.sqlite"))
    first = make_subsets(SubsetsConfig(out=tmp_path / "a", **cfg))
    assert first.selection.summary["requests"] >= 240
    before = teacher.request_count
    est = estimate_subsets(SubsetsConfig(out=tmp_path / "b", **cfg))
    assert est["requests"] == 0 and est["cached"] == 240
    again = make_subsets(SubsetsConfig(out=tmp_path / "b", **cfg))
    assert teacher.request_count == before
    assert again.selection.summary["requests"] == 0 and again.selection.summary["cache_hits"] >= 240
    assert [s.sha256 for s in again.subsets] == [s.sha256 for s in first.subsets]


def _picky_rater(body: dict) -> str:
    """Examples 'task i': i % 5 == 0 never give a rating, i % 5 == 1 only when re-asked,
    i % 5 == 2 first answer out of range (7), the rest a rating of i % 6."""
    messages = body["messages"]
    i = int(messages[1]["content"].split("task ")[1].split("\n")[0])
    reasked = len(messages) > 2
    if i % 5 == 0 or (i % 5 == 1 and not reasked):
        return "这条数据还不错。"
    if i % 5 == 2 and not reasked:
        return "评分: 7\n理由: 很好"
    return f"评分: {i % 6}\n理由: 第{i}条"


def test_unparsable_ratings_are_counted_reasked_and_left_unrated(fake_server, tmp_path):
    n = 30
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [{"instruction": f"task {i}", "output": f"answer {i}", "category": "math"} for i in range(n)])
    srv = fake_server(_picky_rater)
    m = make_subsets(SubsetsConfig(pool=pool, sizes=[10, n], out=tmp_path / "out",
                                   select=_quality(srv, tmp_path / "c.sqlite", reasks=2)))
    never, late, wide = ([i for i in range(n) if i % 5 == r] for r in (0, 1, 2))
    s = m.selection.summary
    assert s["unrated"] == len(never) and s["rated"] == n - len(never)
    assert s["reasks"] == 2 * len(never) + len(late) + len(wide)
    assert srv.request_count == n + s["reasks"]
    rows = {r["id"]: r for r in _scores(m)}
    pool_ids = [ex.id for ex in read_records(pool, InstructionExample)]
    for i, ex_id in enumerate(pool_ids):
        if i % 5 == 0:  # left unrated, never a silent 0, and ranked after every rated example
            assert rows[ex_id]["score"] is None and "no valid rating after 3 replies" in rows[ex_id]["reason"]
            assert rows[ex_id]["rank"] > n - len(never)
        else:
            assert rows[ex_id]["score"] == i % 6
    order = _ids(m.subset_path(m.subsets[-1]))
    ranked = [rows[x]["score"] for x in order if rows[x]["score"] is not None]
    assert ranked == sorted(ranked, reverse=True)


def test_parse_rating_forms():
    assert parse_rating("评分: 4\n理由: 正确").score == 4.0 and parse_rating("评分：4").reason is None
    assert parse_rating("Score: 3.5\nReason: fine").reason == "fine"
    assert parse_rating("Rating: 8/10").score == 4.0
    assert parse_rating("分数为 2 分，评分: 5").score == 5.0  # the last one wins
    assert parse_rating("评分: 6").score is None and parse_rating("great example").score is None


def test_dry_run_estimates_and_calls_nothing(fake_server, tmp_path):
    srv = fake_server(["评分: 3"])
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, sample_tasks(40, seed=3))
    result = CliRunner().invoke(app, ["subsets", "--pool", str(pool), "--sizes", "10,20", "--out", str(tmp_path / "o"),
                                      "--select", "llm-quality", "--base-url", srv.base_url, "--model", "m",
                                      "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "~40 requests (0 cached)" in result.output and srv.request_count == 0
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(app, ["subsets", "--pool", str(pool), "--sizes", "10,20", "--out", str(tmp_path / "o"),
                                      "--select", "llm-quality", "--base-url", srv.base_url, "--model", "m"])
    assert result.exit_code == 0, result.output
    assert "rated 40, unrated 0" in result.output and srv.request_count == 40


def test_a_mix_the_pool_cannot_fill_fails_before_any_request(fake_server, tmp_path):
    srv = fake_server(["评分: 3"])
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, sample_tasks(120, seed=0))  # 10 per category
    cfg = SubsetsConfig(pool=pool, sizes=[40, 100], out=tmp_path / "o",
                        select=_quality(srv, tmp_path / "c.sqlite", mix="math=0.3,code=0.05"))
    with pytest.raises(ConfigError, match="'math'.*the pool has 10"):
        make_subsets(cfg)
    assert srv.request_count == 0
    with pytest.raises(ConfigError, match="'poetry' is not in the pool"):
        make_subsets(SubsetsConfig(pool=pool, sizes=[10], out=tmp_path / "p", select={"drop": "poetry"}))


def test_drop_leaves_a_category_out(tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, sample_tasks(120, seed=0))
    m = make_subsets(SubsetsConfig(pool=pool, sizes=[22, 110], out=tmp_path / "o", select={"drop": "math"}))
    assert m.pool_size == 110 and all("math" not in s.categories for s in m.subsets)
    assert m.selection.dropped == ["math"] and m.selection.shares["math"] == 0
    assert all(abs(n - 22 / 11) < 1 for n in m.subsets[0].categories.values())


@pytest.fixture(scope="module")
def hash_rater():
    """A deterministic rater: 0-5 from a hash of the example, many ties (the tie-break matters)."""
    import hashlib

    from instructscale.llm.fake_server import FakeServer

    def rate(body):
        digest = hashlib.sha256(body["messages"][1]["content"].encode()).digest()
        return f"评分: {digest[0] % 6}"

    srv = FakeServer(rate).start()
    yield srv
    srv.stop()


FOUR = ("math", "code", "cot", "rewrite")  # pool categories are ids of the 12


@settings(max_examples=30, deadline=None)
@given(n=st.integers(8, 70), seed=st.integers(0, 2**16),
       method=st.sampled_from(["random", "length", "diversity", "llm-quality"]),
       mix=st.sampled_from(["", "math=0.5", "math=0.2,code=0.3", "cot=0.1"]), fracs=st.lists(st.floats(0.05, 0.5), min_size=1, max_size=3))
def test_every_method_is_nested_deterministic_and_hits_the_mix(hash_rater, n, seed, method, mix, fracs):
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp, "pool.jsonl")
        write_jsonl(pool, [{"instruction": f"task {i} " + "词" * (i * 7 % 11), "output": "答" * (i * 5 % 13 + 1),
                            "category": FOUR[(i * i + i // 3) % 4]} for i in range(n)])
        sizes = sorted({max(1, round(f * n)) for f in fracs})
        select = {"method": method, "mix": mix}
        if method == "llm-quality":  # no cache: both runs really rate
            select.update(use_cache=False, client=ClientConfig(base_url=hash_rater.base_url, model="m", concurrency=4))
        runs = []
        for out in ("x", "y"):
            try:
                runs.append(make_subsets(SubsetsConfig(pool=pool, sizes=sizes, out=Path(tmp, out), seed=seed,
                                                       select=select)))
            except ConfigError as exc:  # only a mix this pool cannot fill may fail
                assert "cannot be filled" in str(exc)
                return
        a, b = runs
        assert [s.sha256 for s in a.subsets] == [s.sha256 for s in b.subsets]
        files = _subset_ids(a)
        assert [len(f) for f in files] == sizes
        _assert_nested(files)
        shares = a.selection.shares
        for entry in a.subsets:
            for cat in FOUR:
                if shares is not None:
                    assert abs(entry.categories.get(cat, 0) - entry.size * shares[cat]) < 1


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.sampled_from("abcde"), min_size=5, max_size=150),
       named=st.dictionaries(st.sampled_from("abcde"), st.floats(0.0, 0.4), max_size=2), seed=st.integers(0, 99))
def test_mixed_prefixes_stay_within_one_of_quota(labels, named, seed):
    counts = Counter(labels)
    mix = {c: s for c, s in named.items() if c in counts}
    try:
        shares = category_shares(labels, mix, [])
    except ConfigError:  # the mix names every category but the shares do not add up to 1
        return
    size = min([len(labels)] + [math.floor(counts[c] / s) for c, s in shares.items() if s > 1e-6])  # fillable
    ranking = list(range(len(labels)))[::-1] if seed % 2 else list(range(len(labels)))
    order = mixed_order(ranking, labels, shares, size)
    assert len(set(order)) == len(order) == size
    taken = Counter()
    for s, i in enumerate(order, start=1):
        taken[labels[i]] += 1
        for c, share in shares.items():  # within one slot of the quota (a tie at exactly one is rounding)
            assert abs(taken[c] - s * share) <= 1 + 1e-9
    per_cat = {c: [i for i in order if labels[i] == c] for c in counts}
    for c, picked in per_cat.items():  # within a category, the ranking's order
        assert picked == [i for i in ranking if labels[i] == c][: len(picked)]


def test_length_puts_longest_answers_first(tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, [{"instruction": f"q{i}", "output": "x" * ((i * 37) % 50 + 1)} for i in range(50)])
    m = make_subsets(SubsetsConfig(pool=pool, sizes=[5, 20], out=tmp_path / "o", select={"method": "length"}))
    lengths = [len(ex.output) for ex in read_records(m.subset_path(m.subsets[-1]), InstructionExample)]
    assert lengths == sorted(lengths, reverse=True) and lengths[0] == 50


def test_diversity_covers_every_cluster_first(tmp_path):
    themes = ["把下面的句子翻译成英文", "计算下面的算式的结果", "写一首关于春天的小诗", "列出三种常见的水果", "总结这段会议通知"]
    rows = [{"instruction": f"{themes[i % 5]}。", "input": f"第{i}条", "output": f"{themes[i % 5]}的答案{i % 3}"}
            for i in range(100)]
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, rows)
    for seed in range(3):
        m = make_subsets(SubsetsConfig(pool=pool, sizes=[5], out=tmp_path / f"d{seed}", seed=seed,
                                       select={"method": "diversity"}))
        first = read_records(m.subset_path(m.subsets[0]), InstructionExample)
        assert {ex.instruction for ex in first} == {f"{t}。" for t in themes}
        assert _scores(m)[0]["score"] == 1.0


def test_ifd_on_a_tiny_model_is_batched_correctly(tiny_pool_path, tiny_base_model, tmp_path):
    from instructscale.subsets.ifd import ifd_scores

    base = str(tiny_base_model("gpt2"))
    pool = read_records(tiny_pool_path, InstructionExample)[:12]
    one = ifd_scores(pool, base, batch_size=1, max_length=64)
    assert all(math.isfinite(x) and x > 0 for x in one)
    write_jsonl(tmp_path / "pool.jsonl", pool)
    m = make_subsets(SubsetsConfig(pool=tmp_path / "pool.jsonl", sizes=[4, 10], out=tmp_path / "o",
                                   select={"method": "ifd", "base_model": base, "max_length": 64, "batch_size": 5}))
    _assert_nested(_subset_ids(m))
    scores = {r["id"]: r["score"] for r in _scores(m)}
    assert [scores[ex.id] for ex in pool] == pytest.approx(one, rel=1e-4)  # padding in a batch changes nothing
    below = [r["score"] for r in _scores(m) if r["score"] < 1]
    assert below == sorted(below, reverse=True)  # hardest to follow first, misfits (>= 1) last
    assert m.selection.settings["base_model"] == base


def test_methods_needing_options_fail_early(tmp_path):
    with pytest.raises(ConfigError, match="needs a rater"):
        SelectConfig(method="llm-quality")
    with pytest.raises(ConfigError, match="needs the base model"):
        SelectConfig(method="ifd")
    with pytest.raises(ConfigError, match="not CATEGORY=SHARE"):
        SelectConfig(mix="math0.3")
    with pytest.raises(ConfigError, match="add up to 1.2"):
        SelectConfig(mix="math=0.6,code=0.6")


def test_failed_rating_calls_stop_before_any_subset_and_a_rerun_asks_only_those(fake_server, tmp_path):
    from instructscale.llm.fake_server import Fault
    from instructscale.llm.failures import ApiFailureError

    srv = fake_server(["评分: 4\n理由: 好"])
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, sample_tasks(20, seed=4))
    srv.push_faults([Fault.server_error()] * 3)
    select = SelectConfig(method="llm-quality", cache=tmp_path / "c.sqlite",
                          client=ClientConfig(base_url=srv.base_url, model="m", max_attempts=1, concurrency=1))
    cfg = SubsetsConfig(pool=pool, sizes=[5, 10], out=tmp_path / "o", select=select)
    with pytest.raises(ApiFailureError, match="3 of 20 API calls failed"):
        make_subsets(cfg)
    assert not (tmp_path / "o" / "manifest.json").exists()
    before = srv.request_count
    m = make_subsets(cfg)
    assert srv.request_count - before == 3 and m.selection.summary["rated"] == 20


def test_a_generated_pool_is_rated_by_a_fresh_teacher_that_knows_its_planted_answers(tmp_path):
    """Through the generate stage (parsing, filters, dedup), and rated by another teacher
    instance that shares no state with the one that generated the pool."""
    from instructscale.generate.config import GenerateConfig
    from instructscale.generate.run import run_generate

    gen = serve(noise_rate=0.4)
    try:
        run_generate(GenerateConfig(out=tmp_path / "pool.jsonl", target=80, dedup_fields="instruction+input",
                                    rouge_threshold=0.9, client=ClientConfig(base_url=gen.base_url, model="demo-teacher")))
        assert sum(v for k, v in gen.responder.stats.items() if k.startswith("planted_")) > 0
    finally:
        gen.stop()
    pool = read_records(tmp_path / "pool.jsonl", InstructionExample)
    planted = {ex.id for ex in pool if is_planted(ex.instruction, ex.input, 0.4)}
    rater = serve(noise_rate=0.4)
    try:
        m = make_subsets(SubsetsConfig(pool=tmp_path / "pool.jsonl", sizes=[len(pool) - len(planted) - 2],
                                       out=tmp_path / "q", select=_quality(rater, tmp_path / "c.sqlite")))
    finally:
        rater.stop()
    assert planted and not planted & set(_subset_ids(m)[0])
