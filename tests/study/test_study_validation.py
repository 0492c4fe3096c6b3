"""Study files are checked before any work: unknown keys in every block (with the closest
valid key), settings one stage needs from another, and file/key named in one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from instructscale.cli.main import app
from instructscale.errors import ConfigError, InputError
from instructscale.study import Study, load_study
from tests.study.test_study_run import write_study


def build(tmp_path, *overrides, **changes):
    path = write_study(tmp_path, **changes)
    return Study(load_study(path, list(overrides)), source=str(path)), path


@pytest.mark.parametrize("override, message", [
    ("judges.0.options.repeat=3", "judges.0.options.repeat: unknown key; did you mean 'repeats'?"),
    ("judges.0.options.client.timeout=3", "judges.0.options.client.timeout: unknown key; did you mean 'timeout_s'?"),
    ("data.generate.targte=10", "data.generate.targte: unknown key; did you mean 'target'?"),
    ("train.learning_rat=0.1", "train.learning_rat: unknown key; did you mean 'learning_rate'?"),
    ("respond.max_new_token=5", "respond.max_new_token: unknown key; did you mean 'max_new_tokens'?"),
    ("report.bootstrap_sample=200", "report.bootstrap_sample: unknown key; did you mean 'bootstrap_samples'?"),
    ("base_model.tiny.hiden_size=8", "base_model.tiny.hiden_size: unknown key; did you mean 'hidden_size'?"),
    ("teacher.concurency=2", "teacher.concurency: unknown key; did you mean 'concurrency'?"),
    ("judges.0.nme=x", "judges.0.nme: unknown key; did you mean 'name'?"),
    ("respond.preset=hot", "respond.preset: unknown generation preset 'hot'"),
])
def test_a_typo_in_any_block_names_file_key_and_the_closest_valid_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        build(tmp_path, override)
    text = str(info.value)
    assert text.startswith(str(tmp_path / "study.yaml") + ": ") and message in text and "\n" not in text


def test_a_key_with_no_close_match_lists_the_valid_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"judges\.0\.options\.zzz: unknown key \(valid keys: .*repeats"):
        build(tmp_path, "judges.0.options.zzz=1")


def test_sampling_params_stay_open(tmp_path):
    study, _ = build(tmp_path, "judges.0.options.client.params.min_p=0.1")
    assert study.stage_configs()["judges"]["teacher"].client.params["min_p"] == 0.1


@pytest.mark.parametrize("override, message", [
    ("report.primary_judge=teachr", "report.primary_judge: no judge named 'teachr'; did you mean 'teacher'?"),
    ("train.max_length=200", "train.max_length (200) is more than base_model.tiny.max_positions (128)"),
    ("respond.max_new_tokens=128", "respond.max_new_tokens (128) leaves no room for a question in "
                                   "base_model.tiny.max_positions (128)"),
    ("subsets.sizes=[20, 100]", "subsets.sizes: 100 is more than data.generate.target (60)"),
])
def test_cross_stage_settings_fail_before_any_work(tmp_path, override, message):
    with pytest.raises(ConfigError, match="^.*$") as info:
        build(tmp_path, override)
    assert message in str(info.value)
    assert not (tmp_path / "run").exists()


def test_cli_study_run_gives_one_line_and_does_nothing(tmp_path):
    path = write_study(tmp_path)
    result = CliRunner().invoke(app, ["study", "run", str(path), "--set", "judges.0.options.repeat=3"])
    assert result.exit_code == 2 and "did you mean 'repeats'?" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_yaml_errors_name_the_file_and_line_not_unicode_string(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: x\nrun_dir: r\neval: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_study(path)
    text = str(info.value)
    assert text.startswith(f"{path}, line ") and "not valid YAML" in text and "<unicode string>" not in text


def test_a_study_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_bytes("name: 研究\n".encode("utf-8") + "run_dir: 研究\n".encode("gbk"))
    with pytest.raises(InputError, match=rf"^{path}, line 2: not valid UTF-8$"):
        load_study(path)


def test_cross_stage_checks_cover_each_arm(tmp_path):
    from tests.study.test_study_run import TINY_STUDY

    small = {**TINY_STUDY["base_model"]["tiny"], "max_positions": 64}
    arms = [{"name": "main"}, {"name": "small", "base_model": {"tiny": small}}]
    with pytest.raises(ConfigError, match=r"train\.max_length \(96\) is more than base_model\.tiny\.max_positions "
                                          r"\(64\) \(arm 'small'\)"):
        build(tmp_path, arms=arms)


@pytest.mark.parametrize("section, name", [("judges", "../../escaped"), ("judges", "a/b"), ("judges", ".."),
                                           ("arms", "x..y"), ("arms", "../up")])
def test_a_judge_or_arm_name_that_is_not_a_safe_file_name_is_refused_naming_file_line_and_key(tmp_path, section,
                                                                                               name):
    entry = {"name": name, "kind": "reference"} if section == "judges" else {"name": name}
    path = write_study(tmp_path, **{section: [entry]})
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "name:" in text and name in text)
    with pytest.raises(ConfigError) as info:
        Study(load_study(path), source=str(path))
    assert str(info.value).startswith(f"{path}, line {line}: {section}.0.name: '{name}' is not a safe name")
    assert not (tmp_path / "run").exists() and not (tmp_path / "escaped").exists()


def test_a_cli_study_with_an_escaping_judge_name_writes_nothing_anywhere(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    path = write_study(tmp_path / "a" / "b", judges=[{"name": "../../escaped", "kind": "reference"}])
    result = CliRunner().invoke(app, ["study", "run", str(path)])
    assert result.exit_code == 2 and "not a safe name" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "study.yaml"]


def test_zero_demo_world_items_per_category_is_a_config_error_not_an_empty_done_eval(tmp_path):
    with pytest.raises(ConfigError, match=r"eval\.demo_world_per_category: Input should be greater than or equal "
                                          r"to 1"):
        build(tmp_path, eval={"demo_world_per_category": 0})
    assert not (tmp_path / "run").exists()


def test_a_key_set_twice_in_a_study_file_is_an_error_naming_file_line_and_key(tmp_path):
    path = write_study(tmp_path)
    text = path.read_text()
    assert "\nseed: 0\n" in text
    path.write_text(text.replace("\nseed: 0\n", "\nseed: 0\nseed: 7\n"), encoding="utf-8")
    line = text.splitlines().index("seed: 0") + 2
    with pytest.raises(InputError, match=rf"^{path}, line {line}, field 'seed': duplicate key \(first set on line "
                                         rf"{line - 1}\)"):
        load_study(path)
    nested = path.read_text().replace("seed: 7\n", "").replace("  max_steps: 2\n", "  max_steps: 2\n  max_steps: 9\n")
    path.write_text(nested, encoding="utf-8")
    with pytest.raises(InputError, match=r"field 'max_steps': duplicate key"):
        load_study(path)
