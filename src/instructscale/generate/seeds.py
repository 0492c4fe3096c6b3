"""Seed tasks in the Alpaca seed JSON Lines format, and the built-in Chinese set.

A line is `{"id", "name", "instruction", "instances": [{"input", "output"}], "is_classification"}`
(Stanford Alpaca's `seed_tasks.jsonl`). The built-in set (data/seeds/zh_seed_tasks.jsonl)
was written for this project in Chinese, with a `category` key naming one of the 12 use
cases so the composition of the seeds can be checked; other files need not have it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from instructscale.datafiles import iter_rows
from instructscale.errors import InputError

BUILTIN_SEEDS = "data/seeds/zh_seed_tasks.jsonl"


class SeedInstance(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str = ""
    output: str


class SeedTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str = ""
    instruction: str = Field(min_length=1)
    instances: list[SeedInstance] = Field(min_length=1)
    is_classification: bool = False
    category: str | None = None

    @property
    def input(self) -> str:
        return self.instances[0].input

    @property
    def output(self) -> str:
        return self.instances[0].output


def builtin_seeds_path() -> Path:
    return Path(str(resources.files("instructscale").joinpath(BUILTIN_SEEDS)))


def load_seed_tasks(path: str | Path | None = None) -> list[SeedTask]:
    """Seed tasks from `path` (None: the built-in Chinese set); errors name file, line and field."""
    path = Path(path) if path is not None else builtin_seeds_path()
    tasks = []
    for line, row in iter_rows(path):
        if isinstance(row.get("id"), int):
            row = {**row, "id": str(row["id"])}
        try:
            tasks.append(SeedTask.model_validate(row))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            raise InputError(f"not an Alpaca seed task: {err['msg']}", path=path, line=line, field=field) from None
    if not tasks:
        raise InputError("no seed tasks", path=path)
    return tasks
