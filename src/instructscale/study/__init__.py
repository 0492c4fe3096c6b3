"""Whole studies from one YAML file: config, fingerprinted units, the pipeline."""

from instructscale.study.config import StudyConfig, load_study
from instructscale.study.pipeline import STAGES, Study
from instructscale.study.yamlgen import commented_yaml

__all__ = ["STAGES", "Study", "StudyConfig", "commented_yaml", "load_study"]
