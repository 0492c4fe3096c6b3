"""Where a study writes: one place for every path in RUN_DIR.

    eval/eval.jsonl  data/pool.jsonl  subsets[@TAG]/  models/base[@TAG]/  models/scale_<KEY>/
    responses/scale_<KEY>.jsonl  judgements/<judge>.jsonl  cache/llm_cache.sqlite
    manifests/<unit>.json  index.json  report/

KEY is a model's key (`200`, `200_seed1@quality`, `0@large`; see study/arms.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from instructscale.study.arms import Arm, ModelRef, tagged
from instructscale.study.config import StudyConfig


@dataclass(frozen=True)
class Layout:
    cfg: StudyConfig

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.run_dir)

    @property
    def eval_path(self) -> Path:
        return self.run_dir / "eval" / "eval.jsonl"

    @property
    def pool_path(self) -> Path:
        return self.run_dir / "data" / "pool.jsonl" if self.cfg.data.pool is None else Path(self.cfg.data.pool)

    def subsets_dir(self, arm: Arm) -> Path:
        return self.run_dir / tagged("subsets", arm.subsets_tag)

    def base_path(self, arm: Arm) -> str:
        """The tiny base model built in RUN_DIR, or the arm's Hub id / folder."""
        if arm.base_model.tiny is not None:
            return str(self.run_dir / "models" / tagged("base", arm.base_tag))
        return arm.base_model.path

    def model_dir(self, ref: ModelRef) -> Path:
        return self.run_dir / "models" / ref.name

    def responses_path(self, ref: ModelRef) -> Path:
        return self.run_dir / "responses" / f"{ref.name}.jsonl"

    def judgements_path(self, judge_name: str) -> Path:
        return self.run_dir / "judgements" / f"{judge_name}.jsonl"

    @property
    def cache_path(self) -> Path:
        return self.run_dir / "cache" / "llm_cache.sqlite"

    def relative(self, path: str | Path) -> str:
        return str(Path(path).relative_to(self.run_dir))
