"""Generation in batch mode: the pool online generation writes, from batches that shrink
to what is still missing, with no chat requests."""

from __future__ import annotations

import pytest

from instructscale.demo import make_teacher
from instructscale.errors import ConfigError
from instructscale.generate import GenerateConfig, run_generate
from instructscale.llm import ClientConfig


def _cfg(srv, out, **client):
    return GenerateConfig(out=out, target=150,  # default dedup: the demo teacher repeats instructions
                          client=ClientConfig(base_url=srv.base_url, model="teacher", backoff_base_s=0.01, **client))


def test_batch_pool_equals_the_online_pool(fake_server, tmp_path):
    online_srv, srv = fake_server(make_teacher(0)), fake_server(make_teacher(0))
    online = run_generate(_cfg(online_srv, tmp_path / "online.jsonl", concurrency=1))
    s = run_generate(_cfg(srv, tmp_path / "batch.jsonl", batch=True, batch_poll_s=0.01))
    assert s.kept == online.kept == 150
    assert (tmp_path / "batch.jsonl").read_text() == (tmp_path / "online.jsonl").read_text()
    assert srv.request_count == 0 and s.usage["batches"] >= 2
    sizes = [len(b.lines) for b in srv.batches.values()]
    # 150 / 20 tasks per request first; then what is missing at the share kept so far
    assert sizes[0] == 8 and len(sizes) <= 8 and online_srv.request_count <= sum(sizes) <= 1.5 * online_srv.request_count, \
        (sizes, online_srv.request_count)


def test_teacher_tagging_is_refused_in_batch_mode(fake_server, tmp_path):
    with pytest.raises(ConfigError, match="tag_with_teacher"):
        GenerateConfig(out=tmp_path / "p.jsonl", target=5, tag_with_teacher=True,
                       client=ClientConfig(base_url="http://127.0.0.1:1/v1", model="t", batch=True))
