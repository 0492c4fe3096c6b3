"""llm-quality rating in batch mode: the same scores and subsets as online, no chat requests."""

from __future__ import annotations

from instructscale.datafiles import write_jsonl
from instructscale.demo import make_teacher
from instructscale.demo.world import sample_tasks
from instructscale.llm import ClientConfig
from instructscale.subsets import SelectConfig, SubsetsConfig, make_subsets


def test_batch_ratings_equal_online_ones(fake_server, tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_jsonl(pool, sample_tasks(60, seed=0, noise_rate=0.25))
    runs = {}
    for mode in ("online", "batch"):
        srv = fake_server(make_teacher(0, noise_rate=0.25))
        client = ClientConfig(base_url=srv.base_url, model="demo-teacher", batch=mode == "batch", batch_poll_s=0.01)
        select = SelectConfig(method="llm-quality", client=client, use_cache=False)
        runs[mode] = (make_subsets(SubsetsConfig(pool=pool, sizes=[20, 40], out=tmp_path / mode, seed=1,
                                                 select=select)), srv)
    (online, _), (batch, srv) = runs["online"], runs["batch"]
    assert [s.sha256 for s in batch.subsets] == [s.sha256 for s in online.subsets]
    assert batch.selection.summary["rated"] == online.selection.summary["rated"] > 40
    assert srv.request_count == 0 and len(srv.batch_lines) >= 60 and batch.selection.summary["usage"]["batches"] >= 1
