"""`study plan`: what a whole study will cost before anything is spent, from its settings
alone (no network, no GPU, no finished work needed).

Per unit, in run order: API requests, input and output tokens (from the actual prompts,
the eval set and the configured max tokens; repeats and re-asks included), dollars from
the price table, GPU-hours and wall-clock from the FLOPs to process and the model's size,
and disk for the models. Units already done cost nothing. Every guess is an `Assumptions`
field, printed with the plan and settable from the CLI.

    training FLOPs  = k x N x tokens   (k = 6; 4 with LoRA; +2 with gradient checkpointing)
    response FLOPs  = 2 x N x (prompt + answer tokens)
    GPU-hours       = FLOPs / (peak bf16 FLOP/s of the GPU x utilisation) / 3600
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from instructscale.errors import ConfigError
from instructscale.llm.usage import estimate_tokens, price_both
from instructscale.study.arms import ModelRef, selection_block, tagged

if TYPE_CHECKING:
    from instructscale.study.pipeline import Study

TEMPLATE_TOKENS = 16  # the prompt template's own words around an instruction
MAX_POOL_ROWS_READ = 5000  # rows of an existing pool read to measure example length
_SIZE_IN_NAME = re.compile(r"(?:^|[-_/])(\d+(?:\.\d+)?)([bm])(\d*)(?=$|[-_.])", re.IGNORECASE)


@dataclass
class Assumptions:
    """The guesses behind the numbers; each is a `study plan` option."""

    gpu: str = "A100-80GB"  # a name in data/gpus.yaml
    gpus: int = 8  # GPUs training runs spread over (responses: one GPU per model)
    train_utilisation: float = 0.35  # share of peak FLOP/s training reaches (model FLOPs utilisation)
    respond_utilisation: float = 0.10  # generation is memory-bound: a far lower share
    params: float | None = None  # base model parameters; None: from its config.json or its name
    eval_items: int = 1000  # eval set file missing: Table 1's categories and prompt lengths, this many items
    answer_tokens: int | None = None  # judged answer length; None: respond max_new_tokens (an upper bound)
    kept_share: float = 0.5  # generated tasks that pass the filters and deduplication
    reask_share: float = 0.05  # judge / rater asks re-asked for a reply without a valid score
    api_tokens_per_s: float = 50.0  # output speed of one API request, for wall-clock
    bytes_per_param: float = 4.0  # a saved model (fp32 weights, as trained); checkpoints add Adam's 8


@dataclass
class PlanRow:
    unit: str
    stage: str
    state: str = "pending"
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float | None = 0.0  # in the client's mode (online, or batch with `batch: true`); None: not in the price table
    usd_online: float | None = 0.0  # the same work at both prices, side by side
    usd_batch: float | None = 0.0  # None: no batch price for the model
    gpu_hours: float = 0.0
    wall_hours: float = 0.0
    disk_gb: float = 0.0
    model: str | None = None  # the API model priced
    note: str = ""


@dataclass
class Plan:
    rows: list[PlanRow]
    assumptions: Assumptions
    notes: list[str] = field(default_factory=list)
    peak_extra_gb: float = 0.0  # training checkpoints (weights + optimizer) alive while a scale trains

    def total(self) -> PlanRow:
        def add(values):
            values = list(values)
            return None if None in values else sum(values)

        return PlanRow("total", "", "", sum(r.requests for r in self.rows), sum(r.input_tokens for r in self.rows),
                       sum(r.output_tokens for r in self.rows), add(r.usd for r in self.rows),
                       add(r.usd_online for r in self.rows), add(r.usd_batch for r in self.rows),
                       sum(r.gpu_hours for r in self.rows), sum(r.wall_hours for r in self.rows),
                       sum(r.disk_gb for r in self.rows))

    def disk_bytes(self) -> int:
        return int((self.total().disk_gb + self.peak_extra_gb) * 1e9)

    def table(self, title: str):
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)  # fits 80 columns (a log, a pipe)
        for col in ("unit", "requests", "in tok", "out tok", "USD", "batch USD", "GPU-h", "wall h", "disk GB"):
            table.add_column(col, justify="left" if col == "unit" else "right", no_wrap=True)
        for r in [*self.rows, self.total()]:
            state = f" ({r.state})" if r.state not in ("pending", "") else ""
            table.add_row(r.unit + state, _n(r.requests), _n(r.input_tokens), _n(r.output_tokens),
                          _usd(r.usd, r.requests), _usd(r.usd_batch, r.requests), _n(r.gpu_hours), _n(r.wall_hours),
                          _n(r.disk_gb))
        return table

    def lines(self) -> list[str]:
        """What the table leaves out: each unit's note, the plan's notes, the assumptions."""
        a = self.assumptions
        return [*(f"{r.unit}: {r.note}" for r in self.rows if r.note), *self.notes, *formulas(a), f"disk: saved models at {a.bytes_per_param:g} bytes a parameter; while a scale trains "
                f"its checkpoints (weights + optimizer) take up to {self.peak_extra_gb:,.1f} GB more",
                "USD: at the price of each client's mode (online, or its Batch API with `batch: true`); batch USD: the "
                "same work through the Batch API; ?: the model (or its batch price) is not in the price table "
                "(data/prices.yaml or client.price_table)"]

    def to_json(self) -> dict[str, Any]:
        return {"units": [asdict(r) for r in self.rows], "total": asdict(self.total()),
                "assumptions": asdict(self.assumptions), "formulas": formulas(self.assumptions), "notes": self.notes}


def _usd(value: float | None, requests: int) -> str:
    return "?" if value is None else f"{value:,.2f}" if value or requests else ""


def _n(value: float) -> str:
    """Short enough for an 80-column table: 131.2M, 4,610, 0.0312."""
    if not value:
        return ""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e4)):
        if abs(value) >= scale:
            return f"{value / scale * (10 if unit == 'k' else 1):.1f}{unit}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2g}"


def usd(client, input_tokens: int, output_tokens: int) -> dict[str, float | None]:
    """Dollars of one stage's tokens (data/prices.yaml), online and through the Batch API, and
    `usd` in the client's own mode; None: unknown. The one place the plan prices tokens."""
    both = price_both(client.model, input_tokens, output_tokens, client.price_table)
    return {"usd": both["batch" if client.batch else "online"], "usd_online": both["online"],
            "usd_batch": both["batch"]}


def gpu_table() -> dict[str, dict[str, float]]:
    return yaml.safe_load(resources.files("instructscale").joinpath("data/gpus.yaml").read_text(encoding="utf-8"))


def formulas(a: Assumptions) -> list[str]:
    peak = gpu_table()[a.gpu]["tflops"]
    return [f"training FLOPs = k x N x tokens (k = 6, LoRA 4, +2 with gradient checkpointing); GPU-hours = FLOPs / "
            f"({peak:g} TFLOP/s of a {a.gpu} x {a.train_utilisation:g}) / 3600; wall = GPU-hours / {a.gpus} GPUs",
            f"response FLOPs = 2 x N x (prompt + answer tokens); GPU-hours = FLOPs / ({peak:g} TFLOP/s x "
            f"{a.respond_utilisation:g}) / 3600, one GPU per model",
            "tokens: ~1 per CJK character, ~1.3 per Latin word (no tokenizer); answers as long as max_new_tokens",
            f"generation: {a.kept_share:g} of generated tasks kept; judges and raters re-ask {a.reask_share:g} of asks",
            f"API wall-clock: the slowest of the rpm / tpm limits and concurrency x {a.api_tokens_per_s:g} output "
            "tokens/s per request"]


def plan_study(study: Study, a: Assumptions | None = None) -> Plan:
    """The plan of every unit `study run` would run, in order."""
    a = a or Assumptions()
    if a.gpu not in gpu_table():
        raise ConfigError(f"--gpu: unknown GPU '{a.gpu}' (have: {', '.join(gpu_table())}; data/gpus.yaml)")
    return _Planner(study, a).plan()


class _Planner:
    def __init__(self, study: Study, a: Assumptions):
        self.study, self.a, self.cfgs = study, a, study.stage_configs()
        self.graph = study.graph()
        self.units = {u.name: u for u in self.graph.units}
        self.notes: list[str] = []
        self.flops = gpu_table()[a.gpu]["tflops"] * 1e12

    def plan(self) -> Plan:
        items = self.eval_items()
        pool_n, example_tokens = self.pool_shape()
        rows = [PlanRow("eval", "eval"), self.pool_row()]
        models: dict[str, list[ModelRef]] = {}
        seen_subsets, seen_bases = set(), set()
        for arm in self.study.arms:
            refs = self.graph.models.get(arm.name) or self.refs(arm, pool_n)
            models[arm.name] = refs
            name = tagged("subsets", arm.subsets_tag)
            if name not in seen_subsets:
                seen_subsets.add(name)
                rows.append(self.subsets_row(name, arm, pool_n, example_tokens))
            name = tagged("base", arm.base_tag)
            if name not in seen_bases:
                seen_bases.add(name)
                params = self.params(arm)
                rows.append(PlanRow(name, "base", note="" if arm.base_model.tiny is not None else
                                    f"downloads ~{params * 2 / 1e9:.1f} GB (bf16) into the Hub cache" if params else ""))
        distinct = list({r.name: (arm, r) for arm in self.study.arms for r in models[arm.name]}.values())
        peak = 0.0
        for arm, ref in distinct:
            if ref.size > 0:
                row, checkpoints = self.train_row(arm, ref, example_tokens)
                rows.append(row)
                peak = max(peak, checkpoints)
        for arm, ref in distinct:
            rows.append(self.respond_row(arm, ref, items))
        for judge in self.study.cfg.judges:
            rows.append(self.judge_row(judge, items, len(distinct)))
        rows.append(PlanRow("report", "report"))
        for row in rows:
            unit = self.units.get(row.unit)
            if unit is not None and self.study.ledger.state(unit) == "done":
                rows[rows.index(row)] = PlanRow(row.unit, row.stage, "done", note="done: costs nothing")
            elif unit is not None:
                row.state = self.study.ledger.state(unit)
        return Plan(rows, self.a, self.notes, peak_extra_gb=peak)

    # inputs ---------------------------------------------------------------------------------

    def eval_items(self):
        from instructscale.evalset import read_eval_items

        study, ev = self.study, self.study.cfg.eval
        if study.layout.eval_path.exists():
            return read_eval_items(study.layout.eval_path)
        if ev.path is None:
            from instructscale.demo import build_eval_set

            return build_eval_set(per_category=ev.demo_world_per_category, seed=ev.demo_world_seed)
        if Path(ev.path).exists():
            from instructscale.evalset import import_evalset

            return import_evalset(ev.path).items
        from instructscale.study.preflight import eval_source_hint

        self.notes.append(eval_source_hint(study))
        self.notes.append(f"planned with Table 1's shape instead: {self.a.eval_items} items in its 12 categories "
                          "and its average prompt lengths (--eval-items)")
        return table1_items(self.a.eval_items, self.answer_tokens())

    def pool_shape(self) -> tuple[int, float]:
        """(examples in the pool, tokens per training row): measured on the pool when it
        exists, else on the seed tasks."""
        from instructscale.datafiles import iter_rows

        study = self.study
        path = study.layout.pool_path
        target = self.cfgs["generate"].target if "generate" in self.cfgs else None
        lengths = []
        summary = (self.study.ledger.read(self.units["pool"]) or {}).get("summary") or {}
        count = summary.get("kept") or summary.get("examples") or 0  # a finished pool's size, without reading it
        if Path(path).exists():
            for _, row in iter_rows(path):
                lengths.append(estimate_tokens(" ".join(str(row.get(k) or "") for k in
                                                        ("instruction", "input", "output"))))
                if len(lengths) >= MAX_POOL_ROWS_READ:
                    break
        if not lengths:
            from instructscale.generate.seeds import load_seed_tasks

            seeds = self.cfgs["generate"].seeds if "generate" in self.cfgs else None
            lengths = [estimate_tokens(f"{s.instruction} {s.input} {s.output}") for s in load_seed_tasks(seeds)]
            self.notes.append("training rows measured on the seed tasks (no pool yet)")
        return max(target or 0, count), sum(lengths) / len(lengths) + TEMPLATE_TOKENS

    def refs(self, arm, pool_n: int) -> list[ModelRef]:
        """An arm's models while its scales wait for the pool (fractions of its size)."""
        from instructscale.subsets.make import resolve_sizes

        owner = next(a for a in self.study.arms if a.base_tag == arm.base_tag)  # builds the shared base
        refs = [ModelRef(arm=owner.name, size=0, seed=None, seed_tag=False, tag=arm.base_tag)]
        seeds = arm.seeds or (self.cfgs["train"][arm.name].seed,)
        for size in resolve_sizes(arm.subsets.sizes, pool_n):
            refs += [ModelRef(arm=arm.name, size=size, seed=s, seed_tag=k > 0, tag=arm.tag) for k, s in enumerate(seeds)]
        return refs

    def params(self, arm) -> float | None:
        if self.a.params:
            return self.a.params
        if arm.base_model.tiny is not None:
            from instructscale.models.tiny import TinyModelConfig

            t = TinyModelConfig(**arm.base_model.tiny)
            return 12 * t.num_layers * t.hidden_size**2 + (t.vocab_size + t.max_positions) * t.hidden_size
        found = model_params(arm.base_model.path)
        if found is None:
            self.notes.append(f"size of {arm.base_model.path} unknown (no config.json here or in the Hub cache, no "
                              "size in its name): GPU-hours of its units are 0; pass --params")
        return found

    def answer_tokens(self) -> int:
        return self.a.answer_tokens or self.cfgs["respond"].generation().max_new_tokens

    # rows -------------------------------------------------------------------------------------

    def api_row(self, name: str, stage: str, client, requests: int, input_tokens: int, output_tokens: int,
                note: str = "") -> PlanRow:
        minutes = [requests / client.rpm if client.rpm else 0.0,
                   (input_tokens + output_tokens) / client.tpm if client.tpm else 0.0,
                   (output_tokens / self.a.api_tokens_per_s + requests) / client.concurrency / 60]  # +1 s a request
        return PlanRow(name, stage, requests=requests, input_tokens=input_tokens, output_tokens=output_tokens,
                       **usd(client, input_tokens, output_tokens),
                       wall_hours=max(minutes) / 60, model=client.model, note=note)

    def pool_row(self) -> PlanRow:
        if self.study.ledger.state(self.units["pool"]) == "done":
            return PlanRow("pool", "pool")  # priced no further: the generation dry run reads the whole pool
        if "generate" not in self.cfgs:
            return PlanRow("pool", "pool", note=f"existing pool {self.study.cfg.data.pool}")
        from instructscale.generate import run_generate

        gen = self.cfgs["generate"]
        e = run_generate(gen.model_copy(update={"dry_run": True})).estimate
        scale = 1 / self.a.kept_share
        requests = math.ceil(e["requests"] * scale)
        return self.api_row("pool", "pool", gen.client, requests, int(e["prompt_tokens"] * scale),
                            int(e["completion_tokens"] * scale),
                            note=f"{e['needed']} examples to generate, {gen.num_new_tasks} asked per request")

    def subsets_row(self, name: str, arm, pool_n: int, example_tokens: float) -> PlanRow:
        method = (selection_block(arm.subsets) or {}).get("method")
        if method == "llm-quality":
            from instructscale.generate.seeds import load_seed_tasks
            from instructscale.records import InstructionExample
            from instructscale.subsets.quality import estimate_rating, load_rating_prompt

            select = self.study.subsets_config(arm, self.cfgs["train"][arm.name].template).select
            sample = [InstructionExample(instruction=s.instruction, input=s.input, output=s.output)
                      for s in load_seed_tasks(None)]
            e = estimate_rating(sample, select.client, load_rating_prompt(select.prompts), None)
            scale = pool_n / len(sample) * (1 + self.a.reask_share)
            return self.api_row(name, "subsets", select.client, math.ceil(e["requests"] * scale),
                                int(e["prompt_tokens"] * scale), int(e["completion_tokens"] * scale),
                                note=f"rates {pool_n} pool examples")
        if method == "ifd":
            params = self.params(arm) or 0
            hours = 2 * 2 * params * pool_n * example_tokens / (self.flops * self.a.respond_utilisation) / 3600
            return PlanRow(name, "subsets", gpu_hours=hours, wall_hours=hours, note="IFD: two forward passes a row")
        return PlanRow(name, "subsets")

    def train_row(self, arm, ref: ModelRef, example_tokens: float) -> tuple[PlanRow, float]:
        cfg = self.cfgs["train"][arm.name]
        params = self.params(arm) or 0
        row_tokens = min(example_tokens, cfg.max_length)
        steps = cfg.max_steps if cfg.max_steps > 0 else max(math.ceil(ref.size * cfg.epochs / cfg.effective_batch_size),
                                                             cfg.min_steps)
        tokens = steps * cfg.effective_batch_size * row_tokens
        lora = cfg.lora or cfg.qlora
        k = (4 if lora else 6) + (2 if cfg.gradient_checkpointing else 0)
        hours = k * params * tokens / (self.flops * self.a.train_utilisation) / 3600
        gpus = self.a.gpus if self.study.cfg.launch.accelerate_config else 1
        saved = params * self.a.bytes_per_param * (0.01 if lora else 1)  # a LoRA adapter: ~1% of the weights
        checkpoints = cfg.save_total_limit * saved * 3 / 1e9  # weights + Adam's two moments
        disk = saved / 1e9 + (checkpoints if cfg.keep_checkpoints else 0)
        return PlanRow(f"train:{ref.key}", "train", gpu_hours=hours, wall_hours=hours / gpus, disk_gb=disk,
                       note=f"{steps} steps x {cfg.effective_batch_size} rows x ~{row_tokens:.0f} tokens"), checkpoints

    def respond_row(self, arm, ref: ModelRef, items) -> PlanRow:
        cfg = self.cfgs["respond"]
        answer = cfg.generation().max_new_tokens
        prompt_tokens = sum(estimate_tokens(i.question) + TEMPLATE_TOKENS for i in items) * cfg.n
        output_tokens = len(items) * cfg.n * answer
        name = f"respond:{ref.key}"
        if cfg.backend == "openai":
            return self.api_row(name, "respond", cfg.client.model_copy(update={"model": ref.name}), len(items) * cfg.n,
                                prompt_tokens, output_tokens)
        params = self.params(arm) or 0
        hours = 2 * params * (prompt_tokens + output_tokens) / (self.flops * self.a.respond_utilisation) / 3600
        return PlanRow(name, "respond", input_tokens=prompt_tokens, output_tokens=output_tokens, gpu_hours=hours,
                       wall_hours=hours, note=f"{len(items)} items x {cfg.n}, answers up to {answer} tokens ({cfg.backend})")

    def judge_row(self, judge, items, n_models: int) -> PlanRow:
        name = f"judge:{judge.name}"
        if judge.kind == "reference":
            return PlanRow(name, "judge", note="reference metrics: CPU only")
        if judge.kind == "lm-eval":
            return PlanRow(name, "judge", note="lm-eval benchmarks: not estimated")
        from instructscale.judge.prompts import load_prompt_set
        from instructscale.judge.run import ASSUMED_REPLY_TOKENS

        cfg = self.cfgs["judges"][judge.name]
        prompts = load_prompt_set(cfg.prompts)
        answer = "字" * self.answer_tokens()  # one token a character
        per_model = sum(sum(estimate_tokens(m["content"]) for m in prompts.messages(item, answer)) for item in items)
        asks = n_models * len(items) * self.cfgs["respond"].n * cfg.repeats
        factor = self.cfgs["respond"].n * cfg.repeats * (1 + self.a.reask_share)
        requests = math.ceil(asks * (1 + self.a.reask_share))
        reply = min(ASSUMED_REPLY_TOKENS, int(cfg.client.params.get("max_tokens") or ASSUMED_REPLY_TOKENS))
        return self.api_row(name, "judge", cfg.client, requests, int(n_models * per_model * factor), requests * reply,
                            note=f"{n_models} models x {len(items)} items x {cfg.repeats} repeats")


def table1_items(total: int, answer_tokens: int):
    """An eval set of Table 1's shape: its categories' shares of `total` items, each question
    as long as the category's average prompt, each reference `answer_tokens` long."""
    from instructscale.categories import categories
    from instructscale.records import EvalItem

    cats = categories()
    paper = sum(c.paper_count for c in cats)
    return [EvalItem(id=f"{c.id}-{k}", category=c.id, question="字" * round(c.paper_avg_prompt_len),
                     reference="字" * answer_tokens)
            for c in cats for k in range(round(c.paper_count * total / paper))]


def model_params(path: str) -> float | None:
    """Parameters of a model: from its config.json (a folder, or the Hub cache), else from a
    size in its name ('bloomz-7b1-mt': 7.1e9, 'SmolLM2-135M': 1.35e8); None: unknown."""
    config = None
    local = Path(path).expanduser() / "config.json"
    if local.is_file():
        config = local
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(path, "config.json")
            config = Path(cached) if isinstance(cached, str) else None
        except ValueError:  # not a valid repo id
            config = None
    if config is not None:
        found = params_from_config(json.loads(config.read_text(encoding="utf-8")))
        if found:
            return found
    match = None
    for match in _SIZE_IN_NAME.finditer(path):
        pass
    if match is None:
        return None
    number = float(f"{match[1]}.{match[3]}" if match[3] else match[1])
    return number * (1e9 if match[2].lower() == "b" else 1e6)


def params_from_config(c: dict[str, Any]) -> float | None:
    """Decoder parameters from a transformers config: layers x (attention 4h^2 + MLP) + embeddings."""
    h = c.get("hidden_size") or c.get("n_embd") or c.get("d_model")
    layers = c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers")
    vocab = c.get("vocab_size")
    if not (h and layers and vocab):
        return None
    ffn = c.get("intermediate_size") or c.get("n_inner") or 4 * h
    gated = c.get("hidden_act") in ("silu", "swiglu", "gelu_pytorch_tanh") and c.get("model_type") != "gpt2"
    return float(layers * (4 * h * h + (3 if gated else 2) * h * ffn) + vocab * h)
