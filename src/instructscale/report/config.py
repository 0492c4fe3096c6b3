"""Settings of a report and what it hands back.

The verdict thresholds live here, next to their defaults, because the report states them:
a reader must be able to check why a category was called improving or flat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Verdict = Literal["improving", "plateaued", "flat_poor", "undetermined"]
LOG10_2 = 0.30103  # log10(2): a slope per tenfold data times this is the gain per doubling


class VerdictThresholds(BaseModel):
    """Score is in [0, 1]; slopes are score gained per tenfold more training data, fitted by least
    squares against log10(training examples) over the tuned scales (size > 0)."""

    model_config = ConfigDict(extra="forbid")

    delta: float = Field(0.15, gt=0.0, description="Smallest gain that matters, per tenfold data: a slope whose 95% "
                                                   "CI lies within +-delta is evidence of no meaningful gain")
    late_points: int = Field(3, ge=2, description="The late slope is fitted over this many largest tuned scales")
    poor_score: float = Field(0.4, ge=0.0, le=1.0, description="A flat category is poor when the upper end of the "
                                                               "CI of its mean at the largest scale is below this, "
                                                               "good when the lower end is at or above it")

    def describe(self) -> str:
        d = f"{self.delta:g}"
        return (f"slopes are score per tenfold data against log10(training examples) over the tuned scales; the "
                f"late slope uses the {self.late_points} largest tuned scales; delta = {d} per tenfold data "
                f"(= {self.delta * LOG10_2:.3f} per doubling) is the smallest gain that matters; all CIs are 95% "
                f"paired bootstrap over items. improving: the late slope's CI is above 0 (evidence of gain at "
                f"the top of the range) and not entirely below delta. plateaued: the late slope's CI lies within "
                f"+-{d} (evidence of no meaningful gain at the top), unless flat_poor applies. flat_poor: also the "
                f"whole-range slope's CI lies within +-{d} and not above 0 (a category with evidence of any gain "
                f"is never called flat), and the mean at the largest scale is poor (CI below {self.poor_score:g}); "
                f"the same with a good level (CI at or above {self.poor_score:g}) is plateaued. undetermined: none of these is shown (or fewer than two tuned "
                f"scales have scores); the report says what would decide it.")


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path = Field(..., description="Study run directory (holds index.json)")
    out: Path | None = Field(None, description="Output folder [default: RUN_DIR/report]")
    primary_judge: str | None = Field(None, description="Judge for the headline table and curves "
                                                       "[default: the index's primary judge]")
    bootstrap_samples: int = Field(2000, ge=100, description="Bootstrap resamples for every CI")
    seed: int = Field(0, description="Seed of the bootstrap")
    thresholds: VerdictThresholds = Field(default_factory=VerdictThresholds)
    target_score: float = Field(0.8, gt=0.0, le=1.0, description="Fitted curves report the data needed to reach "
                                                                 "this mean score")
    compare: list[Path] = Field(default_factory=list, description="Other run directories shown side by side")
    max_answer_chars: int = Field(4000, ge=100, description="Answers longer than this are cut in the item browser")

    @model_validator(mode="after")
    def _default_out(self):
        if self.out is None:
            self.out = self.run_dir / "report"
        return self
