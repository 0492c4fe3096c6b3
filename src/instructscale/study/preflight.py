"""Checks before a study's first unit runs: what would otherwise fail hours later, after
generation was paid for. Every API server a pending unit will call answers with its key,
every base model resolves, the eval set and the pool file are there, a GPU is there when
a unit needs one, and the run directory's disk has room for the plan's estimate. Each
problem is one line naming the setting and the study file; all are reported at once.
`network=False` (`study run --no-preflight`) skips the server and Hub queries.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from instructscale.errors import ConfigError
from instructscale.study.arms import tagged

if TYPE_CHECKING:
    from instructscale.study.pipeline import Study

SERVER_TIMEOUT_S = 10.0
PUBLIC_EVAL = ("the study's public release: eval/eval_set.json of github.com/LianjiaTech/BELLE (1,000 items, "
               "question / class / std_answer; import it as is)")


class PreflightError(ConfigError):
    """One line per problem found before any work."""


@dataclass(frozen=True)
class Endpoint:
    setting: str  # where it is configured, e.g. judges.0.options.client
    unit: str  # the unit that calls it
    base_url: str
    model: str
    api_key_env: str


def eval_source_hint(study: Study) -> str | None:
    """One line when the eval set file is missing: where it comes from."""
    path = study.cfg.eval.path
    if path is None or Path(path).exists():
        return None
    return (f"{study.source}: eval.path: {path} does not exist; get {PUBLIC_EVAL}, or build your own "
            "(`instructscale evalset build`, docs/evalset.md)")


def before_run(study: Study, stages: set[str], *, force: bool = False, network: bool = True,
               executor: str = "local") -> None:
    """`study run`'s check before its first unit; under the `slurm` executor the units run on
    the cluster's nodes, so the driver's own machine needs no GPU."""
    from instructscale.study.plan import plan_study

    done = set() if force else {u.name for u in study.units() if study.ledger.state(u) == "done"}
    disk = plan_study(study).disk_bytes() if not force else None  # --force redoes done units: not in the plan
    preflight(study, stages, done, network=network, disk_bytes=disk, gpus_here=executor != "slurm")


def preflight(study: Study, stages: set[str], done: set[str], *, network: bool = True,
              disk_bytes: int | None = None, gpus_here: bool = True) -> None:
    """Raise PreflightError listing every problem with running the picked `stages`; units
    named in `done` are skipped by the run and need nothing."""
    todo = {s for s in stages if not (s in ("eval", "pool") and s in done)}
    problems = [p for p in (eval_source_hint(study) if "eval" in todo else None,
                            _pool_file(study) if "pool" in todo else None) if p]
    if todo & {"base", "train", "respond", "subsets"}:
        problems += _base_models(study, network)
    if network:
        problems += [p for e in endpoints(study, stages, done) if (p := check_server(e, study.source))]
    accelerate, unreadable = _accelerate_config(study, todo)
    problems += unreadable
    if gpus_here:
        problems += _gpu(study, todo, accelerate)
    if disk_bytes:
        problems += _disk(study, disk_bytes)
    if problems:
        raise PreflightError("preflight found problems before any work (study run --no-preflight skips the "
                             "network checks):\n  " + "\n  ".join(problems))


def endpoints(study: Study, stages: set[str], done: set[str]) -> list[Endpoint]:
    """The API servers the picked, unfinished units will call, each once per (URL, model, key)."""
    cfgs = study.stage_configs()  # built once the offline teacher (if any) has started: its URL is in them
    found: list[tuple[str, str, object]] = []
    if "pool" in stages and "pool" not in done and "generate" in cfgs:
        found.append(("teacher", "pool", cfgs["generate"].client))
    if "subsets" in stages:
        for i, arm in enumerate(study.arms):
            unit = tagged("subsets", arm.subsets_tag)
            select = study.subsets_config(arm, cfgs["train"][arm.name].template).select
            if unit not in done and select.method == "llm-quality":
                found.append((f"{'arms.%d.' % i if study.cfg.arms else ''}subsets.select", unit, select.client))
    if "respond" in stages and cfgs["respond"].backend == "openai":
        found.append(("respond.client", "respond", cfgs["respond"].client))
    for i, judge in enumerate(study.cfg.judges):
        unit = f"judge:{judge.name}"
        if "judge" in stages and unit not in done and judge.kind == "llm":
            found.append((f"judges.{i}" + ("" if judge.use_teacher else ".options.client"), unit,
                          cfgs["judges"][judge.name].client))
    out, seen = [], set()
    for setting, unit, client in found:
        key = (client.base_url, client.model, client.api_key_env)
        if key not in seen:
            seen.add(key)
            out.append(Endpoint(setting, unit, *key))
    return out


def check_server(e: Endpoint, source: str) -> str | None:
    """GET BASE_URL/models with the key: any answer but 401/403 means the server is up."""
    import httpx

    from instructscale.llm.client import OPENAI_URL

    key = os.environ.get(e.api_key_env)
    where = f"{source}: {e.setting} (unit {e.unit}): server {e.base_url}"
    if not key and e.base_url.rstrip("/") == OPENAI_URL:
        return f"{where}: no API key: set the environment variable {e.api_key_env}"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        resp = httpx.get(e.base_url.rstrip("/") + "/models", headers=headers, timeout=SERVER_TIMEOUT_S)
    except httpx.HTTPError as exc:
        from instructscale.redact import redact

        return f"{where} does not answer within {SERVER_TIMEOUT_S:g}s ({type(exc).__name__}: {redact(str(exc))})"
    if resp.status_code in (401, 403):
        return f"{where} rejects the key in {e.api_key_env} (http {resp.status_code})"
    return None


def _pool_file(study: Study) -> str | None:
    pool = study.cfg.data.pool
    if pool is None or Path(pool).exists():
        return None
    from instructscale.datafiles import looks_local

    return f"{study.source}: data.pool: {pool} does not exist" if looks_local(pool) else None


def _base_models(study: Study, network: bool) -> list[str]:
    problems, seen = [], set()
    for i, arm in enumerate(study.arms):
        path = arm.base_model.path
        if path is None or path in seen:
            continue
        seen.add(path)
        setting = f"arms.{i}.base_model.path" if study.cfg.arms and study.cfg.arms[i].base_model else "base_model.path"
        problem = check_base_model(path, network)
        if problem:
            problems.append(f"{study.source}: {setting}: {problem}")
    return problems


def check_base_model(path: str, network: bool) -> str | None:
    """None when `path` is a local model, a Hub id in the local cache, or (network) a Hub id
    the Hub knows; else why not."""
    from instructscale.datafiles import looks_local

    if Path(path).expanduser().exists():
        return None
    if looks_local(path):
        return f"{path}: no such file or folder"
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(path, "config.json"), str):
        return None
    if constants.HF_HUB_OFFLINE:
        return f"'{path}' is not in the local Hub cache and HF_HUB_OFFLINE is set: cannot check it or download it"
    if not network:
        return None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().model_info(path, timeout=SERVER_TIMEOUT_S)
    except RepositoryNotFoundError:
        return f"'{path}' is not a model on the Hub ({constants.ENDPOINT}), or it is private: a typo?"
    except HfHubHTTPError as exc:
        if exc.response is not None and exc.response.status_code == 404:
            return f"'{path}' is not a model on the Hub ({constants.ENDPOINT}): a typo?"
        return f"cannot check '{path}' on the Hub ({constants.ENDPOINT}): {exc}"
    except OSError as exc:  # no network: say so rather than guess
        return f"cannot check '{path}': the Hub ({constants.ENDPOINT}) does not answer ({type(exc).__name__})"
    return None


def _accelerate_config(study: Study, stages: set[str]) -> tuple[dict | None, list[str]]:
    """The accelerate config a training unit still to run is launched with (None: none), or why it cannot be read."""
    from instructscale.study.launch import read_config

    path = study.cfg.launch.accelerate_config
    if "train" not in stages or path is None:
        return None, []
    try:
        return read_config(path), []
    except ConfigError as e:
        return None, [f"{study.source}: {e}"]


def _gpu(study: Study, stages: set[str], accelerate: dict | None) -> list[str]:
    from instructscale.study.launch import trains_on_gpus

    needs = []
    if "respond" in stages and study.stage_configs()["respond"].backend == "vllm":
        needs.append("respond.backend: vllm")
    if accelerate is not None and trains_on_gpus(accelerate):
        needs.append(f"launch.accelerate_config: {study.cfg.launch.accelerate_config}")
    if "train" in stages and any(t.qlora for t in study.stage_configs()["train"].values()):
        needs.append("train.qlora")
    if not needs:
        return []
    import torch

    if torch.cuda.is_available():
        return []
    return [f"{study.source}: {need} needs a CUDA GPU and this machine has none" for need in needs]


def _disk(study: Study, need: int) -> list[str]:
    where = Path(study.run_dir).resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    if free >= need:
        return []
    return [f"{study.source}: run_dir: {study.run_dir} has {free / 1e9:.1f} GB free; the plan needs about "
            f"{need / 1e9:.1f} GB (instructscale study plan)"]
