"""`batch: true` in a study file reaches the client of generation, rating and each judge."""

from __future__ import annotations

from instructscale.study import Study, load_study
from tests.study.test_study_run import write_study


def test_batch_per_stage_client(tmp_path):
    path = write_study(tmp_path)
    overrides = ["data.generate.client.batch=true", "judges.0.options.client.batch=true",
                 "judges.0.options.client.batch_wait_s=0", "subsets.select={method: llm-quality, client: {batch: true}}"]
    study = Study(load_study(path, overrides), source=str(path))
    configs = study.stage_configs()
    judge = configs["judges"]["teacher"].client
    assert configs["generate"].client.batch and judge.batch and judge.batch_wait_s == 0
    assert study.subsets_config(study.arms[0], "belle").select.client.batch
    plain = Study(load_study(path, []), source=str(path)).stage_configs()
    assert not plain["generate"].client.batch and not plain["judges"]["teacher"].client.batch
