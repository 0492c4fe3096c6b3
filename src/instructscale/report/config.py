"""Settings of a report and what it hands back.

The verdict thresholds live here, next to their defaults, because the report states them:
a reader must be able to check why a category was called improving or flat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Verdict = Literal["improving", "plateaued", "flat_poor", "undetermined"]


class VerdictThresholds(BaseModel):
    """Score is in [0, 1]; the slope is score gained per tenfold more training data."""

    model_config = ConfigDict(extra="forbid")

    min_slope: float = Field(0.02, ge=0.0, description="Improving: fitted slope per 10x data at least this ...")
    ci_excludes_zero: bool = Field(True, description="... and the lower end of its 95% CI above 0")
    last_step_gains: bool = Field(True, description="... and, with 3+ tuned scales, the largest scale beats the one "
                                                    "before it (paired, lower end of the 95% CI above 0): a curve "
                                                    "that rose early and then stopped is plateaued, not improving")
    poor_score: float = Field(0.4, ge=0.0, le=1.0,
                              description="Not improving and the mean at the largest scale below this: flat_poor; "
                                          "otherwise plateaued")

    def describe(self) -> str:
        ci = " and the lower end of its 95% bootstrap CI is above 0" if self.ci_excludes_zero else ""
        last = (", and (with three or more tuned scales) the largest scale still beats the one before it "
                "(paired bootstrap over items, lower end of the 95% CI above 0)") if self.last_step_gains else ""
        return (f"improving: the slope of mean score against log10(training examples), fitted over the tuned "
                f"scales (size > 0), is at least {self.min_slope:g} per tenfold data{ci}{last}; "
                f"flat_poor: not improving and the mean score at the largest scale is below {self.poor_score:g}; "
                f"plateaued: neither; undetermined: fewer than two tuned scales with scores.")


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path = Field(..., description="Study run directory (holds index.json)")
    out: Path | None = Field(None, description="Output folder [default: RUN_DIR/report]")
    primary_judge: str | None = Field(None, description="Judge for the headline table and curves "
                                                       "[default: the index's primary judge]")
    bootstrap_samples: int = Field(2000, ge=100, description="Bootstrap resamples for every CI")
    seed: int = Field(0, description="Seed of the bootstrap")
    thresholds: VerdictThresholds = Field(default_factory=VerdictThresholds)
    compare: list[Path] = Field(default_factory=list, description="Other run directories shown side by side")
    max_answer_chars: int = Field(4000, ge=100, description="Answers longer than this are cut in the item browser")

    @model_validator(mode="after")
    def _default_out(self):
        if self.out is None:
            self.out = self.run_dir / "report"
        return self
