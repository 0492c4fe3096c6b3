"""The run index: `RUN_DIR/index.json`, the contract between a study and its report.

`study run` writes it as stages finish; `report RUN_DIR` reads it. Paths inside are
relative to the run directory, so a run directory can be moved or archived whole. A
study assembled by hand from stages run one by one gets a report by writing this file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from instructscale.datafiles import parse_json, read_text, write_json
from instructscale.errors import InputError, validation_message

INDEX_FILE = "index.json"
DEFAULT_ARM = "main"


class ScaleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., description="The `model` field of this scale's response records")
    size: int = Field(..., ge=0, description="Training examples; 0 = the untuned base model")
    label: str = Field(..., description="Human label, e.g. '0.2M' or '200'")
    subset: str | None = Field(None, description="Subset file this scale was trained on (None for scale 0)")
    arm: str = Field(DEFAULT_ARM, description="Study arm this model belongs to (a study without arms has one, 'main')")
    seed: int | None = Field(None, description="Training seed; entries with the same arm and size and other seeds "
                                               "are repeated trainings of one scale")


class RunIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="Study name")
    eval: str = Field(..., description="Evaluation set (EvalItem JSON Lines)")
    scales: list[ScaleEntry] = Field(default_factory=list, description="Ordered by size")
    responses: list[str] = Field(default_factory=list, description="Response files (Response JSON Lines)")
    judgements: dict[str, str] = Field(default_factory=dict, description="judge name -> Judgement JSON Lines")
    primary_judge: str | None = Field(None, description="Judge whose scores the headline table and curves use")
    subsets_manifest: str | None = Field(None, description="subsets/manifest.json, for training-data composition")
    teacher_model: str | None = Field(None, description="Model that generated the training data (None: unknown)")
    judge_models: dict[str, str] = Field(default_factory=dict, description="judge name -> the model behind it "
                                                                            "(for the self-preference warning)")
    benchmarks: dict[str, str] = Field(default_factory=dict, description="lm-eval judge name -> its results JSON "
                                                                          "(benchmark scores per model and task)")
    sequential: str | None = Field(None, description="Record of a sequential evaluation's looks (sequential.json; "
                                                      "None: every item judged at once)")
    pairwise: dict[str, str] = Field(default_factory=dict, description="pairwise judge name -> its PairJudgement "
                                                                        "JSON Lines")
    path: Path | None = Field(None, exclude=True)

    def resolve(self, relative: str) -> Path:
        """A path from this index, made absolute against the run directory."""
        base = self.path.parent if self.path is not None else Path(".")
        return base / relative


def load_index(run_dir: str | Path) -> RunIndex:
    p = Path(run_dir)
    if p.is_file() and p.suffix != ".json":
        raise InputError(f"is a file: give a study run directory (the folder that holds {INDEX_FILE})", path=p)
    p = p / INDEX_FILE if p.is_dir() else p
    if not p.exists():
        raise InputError(f"no {INDEX_FILE} here: is this a study run directory?", path=p)
    data = parse_json(read_text(p), p)
    try:
        index = RunIndex.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"not a run index: {validation_message(exc)}", path=p) from None
    index.path = p
    return index


def save_index(run_dir: str | Path, index: RunIndex) -> Path:
    p = Path(run_dir) / INDEX_FILE
    write_json(p, index.model_dump(mode="json"))
    index.path = p
    return p
