"""Settings of a self-instruct generation run and what it reports back."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from instructscale.errors import ConfigError
from instructscale.llm import ClientConfig

# Alpaca's generate_instruction.py samples with temperature 1.0 and top_p 1.0 and lets a
# reply run long enough for a whole list of tasks.
DEFAULT_GENERATE_PARAMS = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 3072}


class GenerateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Field(..., description="Generated examples (JSON Lines of InstructionExample), appended; a rerun continues")
    target: int = Field(..., ge=1, description="Number of kept examples to reach (counting those already in --out)")
    client: ClientConfig = Field(..., description="Teacher API settings (model, base URL, concurrency, rate limits)")
    seeds: Path | None = Field(None, description="Seed tasks in the Alpaca seed JSON Lines format; None: the built-in Chinese set")
    prompt: str = Field("zh", description="Prompt template: zh, en, or a YAML file of the same shape")
    num_seed_examples: int = Field(3, ge=0, description="Seed tasks shown per request as in-context examples (Alpaca: 3)")
    num_new_tasks: int = Field(20, ge=1, description="New tasks asked for per request (Alpaca: 20)")
    mix_generated: int = Field(0, ge=0, description="Already generated tasks that take the place of as many seed examples in each request")
    rouge_threshold: float = Field(0.7, gt=0, le=1, description="Char-level ROUGE-L at or above which an item is a near-duplicate")
    dedup_fields: Literal["instruction", "instruction+input"] = Field(
        "instruction", description="Text compared for duplicates: the instruction (Alpaca), or instruction and input")
    lsh_ngram: int = Field(1, ge=1, le=5, description="Character n-gram size of the MinHash shingles (1: recall is bounded below, see dedup.py)")
    lsh_num_perm: int = Field(128, ge=16, description="MinHash permutations")
    lsh_bands: int = Field(32, ge=2, description="LSH bands (lsh_bands x lsh_rows <= lsh_num_perm); more bands: higher recall")
    lsh_rows: int = Field(4, ge=1, description="Rows per LSH band; fewer rows: more candidates to verify")
    min_instruction_chars: int = Field(4, ge=1, description="Shorter instructions are dropped")
    max_instruction_chars: int = Field(300, ge=1, description="Longer instructions are dropped")
    max_input_chars: int = Field(2000, ge=0, description="Longer inputs are dropped")
    max_output_chars: int = Field(4000, ge=1, description="Longer outputs are dropped")
    blacklist: list[str] | None = Field(None, description="Words that mark tasks a text model cannot do; None: the built-in zh+en list")
    tag_with_teacher: bool = Field(False, description="Ask the teacher for the category when the rules cannot tell")
    max_requests: int | None = Field(None, ge=1, description="Stop after this many generation requests; None: 10x the ideal number")
    dry_run: bool = Field(False, description="Estimate requests, tokens and cost; call nothing, write nothing")
    seed: int = Field(0, description="Seed of the example sampling (each request's draw is seeded from it)")

    @model_validator(mode="after")
    def _check(self):
        if self.lsh_bands * self.lsh_rows > self.lsh_num_perm:
            raise ConfigError(f"lsh_bands x lsh_rows ({self.lsh_bands} x {self.lsh_rows}) exceeds lsh_num_perm "
                              f"({self.lsh_num_perm})")
        if self.min_instruction_chars > self.max_instruction_chars:
            raise ConfigError("min_instruction_chars is larger than max_instruction_chars")
        if self.tag_with_teacher and self.client.batch:  # one tag request at a time would make one batch each
            raise ConfigError("tag_with_teacher cannot be used with batch mode: tags are asked one at a time")
        self.client = self.client.model_copy(update={"params": {**DEFAULT_GENERATE_PARAMS, **self.client.params}})
        return self

    @property
    def request_cap(self) -> int:
        """Generation requests allowed in one run: a teacher that keeps producing junk must
        not spend an unbounded budget."""
        if self.max_requests is not None:
            return self.max_requests
        return 10 * -(-self.target // self.num_new_tasks) + 10


class GenerateSummary(BaseModel):
    out: str
    target: int
    kept: int = 0  # in the output file after the run
    new: int = 0  # kept by this run
    resumed: int = 0  # already in the output file at the start
    torn: int = 0  # torn last line dropped at the start (a crash mid-write)
    requests: int = 0  # generation + tagging requests, retries included
    failed_requests: int = 0  # generation requests failed after all retries (they leave no record)
    api_calls: int = 0  # generation requests whose reply this run used
    last_api_error: str | None = None
    incomplete: str | None = None  # failures left the target unreached: the next run goes on
    parsed: int = 0  # task blocks parsed from replies
    filtered: dict[str, int] = {}  # reason -> count (parse errors and filters)
    categories: dict[str, int] = {}  # category -> kept examples in the output file
    reached_target: bool = False
    usage: dict = {}
    estimate: dict | None = None  # --dry-run only
