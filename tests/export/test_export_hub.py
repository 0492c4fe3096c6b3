"""`instructscale export RUN_DIR`: Hub-ready dataset and model folders that load back with
`datasets` / transformers, cards that huggingface_hub parses, and an upload through
huggingface_hub to a real local HTTP endpoint (a fake Hub)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fake_hub import FakeHub
from instructscale.cli.main import app
from instructscale.datafiles import read_records
from instructscale.export import export_run
from instructscale.export.push import push_export
from instructscale.records import EvalItem, InstructionExample


@pytest.fixture(scope="module")
def exported(tiny_study_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    result = CliRunner().invoke(app, ["export", str(tiny_study_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "subset_20 (20)" in " ".join(result.output.split())  # the console wraps long lines
    return out


def test_dataset_loads_back_with_one_split_per_subset_and_the_eval_config(tiny_study_run, exported):
    from datasets import load_dataset

    ds = load_dataset(str(exported / "dataset"))
    assert set(ds) == {"pool", "subset_20", "subset_50"}
    subset = read_records(tiny_study_run / "subsets" / "subset_50.jsonl", InstructionExample)
    assert ds["subset_50"].to_list() == [ex.model_dump() for ex in subset]  # same rows, same order
    pool = read_records(tiny_study_run / "data" / "pool.jsonl", InstructionExample)
    assert ds["pool"].num_rows == len(pool)

    ev = load_dataset(str(exported / "dataset"), "eval")["test"]
    items = read_records(tiny_study_run / "eval" / "eval.jsonl", EvalItem)
    assert ev["id"] == [i.id for i in items] and [json.loads(m) for m in ev["meta"]] == [i.meta for i in items]

    parquet = load_dataset("parquet", data_files={"subset_20": str(exported / "dataset/data/subset_20.parquet")})
    assert parquet["subset_20"]["id"] == ds["subset_50"]["id"][:20]  # nested: a prefix of the larger subset


def test_dataset_card_parses_and_states_how_the_data_was_made(tiny_study_run, exported):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(exported / "dataset" / "README.md")
    meta = card.data.to_dict()
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert {c["config_name"] for c in meta["configs"]} == {"default", "eval"}
    pool_manifest = json.loads((tiny_study_run / "manifests" / "pool.json").read_text())
    for reason, n in pool_manifest["summary"]["filtered"].items():
        assert f"| {reason} | {n} |" in card.text
    assert "ROUGE-L of the instruction+input at or\nabove 0.9" in card.text
    assert "offline demo teacher" in card.text and "overlap the evaluation set" in card.text
    composition = json.loads((tiny_study_run / "subsets" / "manifest.json").read_text())["subsets"][0]["categories"]
    assert sum(composition.values()) == 20
    assert (exported / "dataset" / "report" / "report.html").exists()
    assert meta["license"] == "other" and str(exported) not in card.text
    assert 'load_dataset("ORG/NAME")' in card.text and 'load_dataset("ORG/NAME", "eval")' in card.text


def test_each_scale_has_its_model_with_a_card_holding_its_scores(tiny_study_run, exported):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM

    scores = json.loads((tiny_study_run / "report" / "scores.json").read_text())
    assert sorted(p.name for p in (exported / "models").iterdir()) == ["scale_20", "scale_50"]
    folder = exported / "models" / "scale_50"
    AutoModelForCausalLM.from_pretrained(folder)
    assert list(folder.glob("runs/*/events.out.tfevents.*"))  # the training curves travel with the model
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "transformers" and "instructscale" in card.data.tags
    expected = {row["category"]: next(c for c in row["cells"] if c["size"] == 50) for row in scores["rows"]}
    got = {r.metric_name.split(" ")[0]: r.metric_value for r in card.data.eval_results
           if r.metric_type == "judge_score"}
    assert got == {cat: cell["mean"] for cat, cell in expected.items()}
    bench = tiny_study_run / "benchmarks" / "bench.json"
    if bench.exists():  # the lm-eval judge ran (the optional extra is installed)
        score = json.loads(bench.read_text())["models"]["scale_50"]["instructscale_demo_mc"]
        (result,) = [r for r in card.data.eval_results if r.dataset_name == "instructscale_demo_mc"]
        assert (result.metric_type, result.metric_value) == (score["metric"], score["value"])
        assert f"| instructscale_demo_mc | {score['metric']} | {score['value']:.3f} |" in card.text
    lo, hi = expected["macro"]["ci_low"], expected["macro"]["ci_high"]
    assert f"| macro | {expected['macro']['mean']:.3f} | [{lo:.3f}, {hi:.3f}] |" in card.text
    assert "subset_50" in card.text and "| learning_rate | 0.003 |" in card.text
    assert "the study's report, `report/report.html` in its dataset" in card.text and "../" not in card.text
    meta = card.data.to_dict()
    assert meta["license"] == "other" and "base_model" not in meta  # the tiny base model is not on the Hub
    assert str(tiny_study_run) not in card.text and "base (a local model, not on the Hub)" in card.text
    assert all(r.metric_value == round(r.metric_value, 4) for r in card.data.eval_results)
    index = json.loads((tiny_study_run / "index.json").read_text())
    if index.get("teacher_model") and index["judge_models"].get(scores["judge"]) == index["teacher_model"]:
        assert "**Warning:** judge 'teacher' is the teacher model" in card.text


def test_push_to_hub_uploads_every_folder_through_huggingface_hub(tiny_study_run, tmp_path, monkeypatch):
    token = "hf_secret_test_token_0123456789"
    monkeypatch.setenv("HF_TOKEN", token)
    summary = export_run(tiny_study_run, tmp_path / "out", repo_id="lab/tiny-study")
    with FakeHub() as hub:
        push_export(summary, endpoint=hub.url)
    assert set(hub.repos) == {("dataset", "lab/tiny-study"), ("model", "lab/tiny-study-scale_20"),
                              ("model", "lab/tiny-study-scale_50")}
    uploaded = hub.repos[("dataset", "lab/tiny-study")]
    local = {p.relative_to(tmp_path / "out" / "dataset").as_posix(): p.read_bytes()
             for p in (tmp_path / "out" / "dataset").rglob("*") if p.is_file()}
    assert uploaded == local
    assert hub.repos[("model", "lab/tiny-study-scale_20")]["model.safetensors"] == \
        (tmp_path / "out" / "models" / "scale_20" / "model.safetensors").read_bytes()
    assert set(hub.auth) == {f"Bearer {token}"} and sorted(hub.validated) == ["dataset", "model", "model"]
    card = uploaded["README.md"].decode()
    assert 'load_dataset("lab/tiny-study")' in card
    assert "https://huggingface.co/datasets/lab/tiny-study/blob/main/report/report.html" in \
        hub.repos[("model", "lab/tiny-study-scale_20")]["README.md"].decode()
    assert not any(token.encode() in p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_export_of_a_folder_that_is_no_run_names_it(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "index.json" in result.output and str(tmp_path) in result.output


def test_model_repo_ids_are_valid_hub_names_for_arms_and_seeds():
    from instructscale.export.hub import model_repo_id, split_name

    assert model_repo_id("lab/study", "scale_200_seed1@quality") == "lab/study-scale_200_seed1-quality"
    assert model_repo_id(None, "scale_200") is None
    assert split_name("subsets@quality/subset_200.jsonl", "quality") == "subset_200_quality"
