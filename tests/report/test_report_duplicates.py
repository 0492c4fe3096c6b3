"""A judgement or response file holding one key twice (two processes wrote it) is counted
once, with a warning naming the count, instead of averaging the repeats."""

from __future__ import annotations

from instructscale.datafiles import JsonlAppender, read_records, write_jsonl
from instructscale.records import Judgement, Response
from instructscale.report.load import load_run
from report_synth import JUDGE, make_run


def test_duplicate_keys_are_counted_once_with_a_warning(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    clean = load_run(run).scores[JUDGE]
    judgements = read_records(run / "judgements.jsonl", Judgement)
    flipped = [j.model_copy(update={"score": 1.0 - j.score}) for j in judgements[:40] if j.score is not None]
    failed_retry = [j.model_copy(update={"score": None, "error": "api: gave up after 2 attempts"})
                    for j in judgements[40:50]]
    with JsonlAppender(run / "judgements.jsonl") as w:
        for j in flipped + failed_retry:
            w.write(j)
    responses = read_records(run / "responses.jsonl", Response)
    with JsonlAppender(run / "responses.jsonl") as w:
        for r in responses[:5]:
            w.write(r)

    data = load_run(run)
    assert data.scores[JUDGE] == clean  # the first record of each key counts, once
    assert all(len(samples) == 1 for samples in data.responses.values())
    err = " ".join(capsys.readouterr().err.split())
    assert f"{len(flipped) + len(failed_retry)} duplicate records" in err
    assert f"({len(flipped) + len(failed_retry)} keys with differing content)" in err
    assert "5 duplicate records" in err and "(0 keys with differing content)" in err


def test_a_final_judgement_replaces_an_earlier_failed_try_of_its_key(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    clean = load_run(run).scores[JUDGE]
    judgements = read_records(run / "judgements.jsonl", Judgement)
    failed_first = [j.model_copy(update={"score": None, "error": "api: gave up after 2 attempts"})
                    for j in judgements[:6]]
    write_jsonl(run / "judgements.jsonl", failed_first + judgements)  # six keys failed, then were redone
    assert load_run(run).scores[JUDGE] == clean
    assert "6 duplicate records" in " ".join(capsys.readouterr().err.split())
