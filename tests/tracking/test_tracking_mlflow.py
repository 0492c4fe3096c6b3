"""MLflow as tracker, for real against a local file store: training metrics through the
trainer's MLflow integration, and the study's score table. Skipped without mlflow."""

from __future__ import annotations

import pytest
from needs import needs_module

pytestmark = needs_module("mlflow", "pip install -e '.[mlflow]'")
mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3: the file store is opt-in
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "instructscale-test")
    # mlflow remembers the last experiment in a global and in MLFLOW_EXPERIMENT_ID: forget another test's store
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    from mlflow.tracking import MlflowClient

    yield MlflowClient()
    mlflow.set_tracking_uri(None)


def _run(client, name):
    (exp,) = [e for e in client.search_experiments() if e.name == "instructscale-test"]
    (run,) = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{name}'")
    return run


def test_training_logs_to_mlflow_through_the_trainer(tiny_pool_path, tiny_base_model, tmp_path, mlflow_store):
    import json

    from instructscale.train import resolve_config, run_train

    out = tmp_path / "scale_48"
    run_train(resolve_config("demo", data=tiny_pool_path, base_model=str(tiny_base_model("gpt2")), out=out,
                             max_steps=2, max_length=64, report_to="mlflow"))
    run = _run(mlflow_store, "scale_48")
    loss = mlflow_store.get_metric_history(run.info.run_id, "loss")
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [m.step for m in loss] == [1, 2] and [m.value for m in loss] == pytest.approx([r["loss"] for r in log])
    assert len(mlflow_store.get_metric_history(run.info.run_id, "tokens_per_second")) == 2
    assert not (out / "runs").exists()  # TensorBoard only when asked for


def test_study_score_table_goes_to_mlflow(tiny_study_run, tmp_path, mlflow_store):
    from instructscale.report import ReportConfig, build_report
    from instructscale.tracking import log_study_summary

    summary = build_report(ReportConfig(run_dir=tiny_study_run, out=tmp_path / "report", bootstrap_samples=100))
    log_study_summary(tmp_path, summary, ["mlflow"])
    run = _run(mlflow_store, "tiny study (summary)")
    macro = next(r for r in summary.rows if r.category == "macro")
    history = mlflow_store.get_metric_history(run.info.run_id, "score_macro")
    assert [(m.step, m.value) for m in history] == [(c.size, pytest.approx(c.mean)) for c in macro.cells]
    assert [a.path for a in mlflow_store.list_artifacts(run.info.run_id)] == ["scores.json"]
    assert run.data.params == {"study": "tiny study", "judge": summary.judge}
