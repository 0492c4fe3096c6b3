"""The instruction formats other trainers read, and conversations read back as a pool.

Written per split (the pool, every subset): Alpaca JSON (`instruction`, `input`, `output`),
ShareGPT JSON Lines (`id`, `conversations` of `from`/`value` turns, `category`), OpenAI
`messages` JSON Lines, and LLaMA-Factory (Alpaca files plus a `dataset_info.json` entry per
split, the evaluation set's items with a reference as an eval split, and one training YAML per
split with the study's settings). One example becomes one user turn (the prompt: instruction, then input on a new line)
and one assistant turn (the output).

Read back (`read_conversations`): ShareGPT or `messages` rows. A conversation with several
assistant turns becomes one example per assistant turn, with the user message before it as the
instruction and the earlier turns as the input (`multi_turn="split"`), or is left out and
counted (`multi_turn="reject"`).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from instructscale.datafiles import iter_rows, validate_row, write_json, write_jsonl, write_text
from instructscale.errors import InputError
from instructscale.records import EvalItem, InstructionExample

FORMATS = ("alpaca", "sharegpt", "messages", "llamafactory")
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
         "bard": "assistant", "model": "assistant", "system": "system"}
HISTORY_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}


def alpaca_row(ex: InstructionExample) -> dict:
    return {"instruction": ex.instruction, "input": ex.input, "output": ex.output}


def sharegpt_row(ex: InstructionExample) -> dict:
    row = {"id": ex.id, "conversations": [{"from": "human", "value": ex.prompt}, {"from": "gpt", "value": ex.output}]}
    return row | ({"category": ex.category} if ex.category else {})


def messages_row(ex: InstructionExample) -> dict:
    return {"messages": [{"role": "user", "content": ex.prompt}, {"role": "assistant", "content": ex.output}]}


def write_format(splits: dict[str, list[InstructionExample]], fmt: str, out: str | Path,
                 dataset_prefix: str = "instructscale", *, eval_items: list[EvalItem] | None = None,
                 train: dict[str, Any] | None = None, base_model: str | None = None) -> list[Path]:
    """Write every split in `fmt` into `out`; returns the files written. LLaMA-Factory also gets
    `eval_items` (those with a reference) and, with `train` (TrainConfig fields), a YAML per split."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}' (have: {', '.join(FORMATS)})")
    out = Path(out)
    written = []
    for name, rows in splits.items():
        if fmt in ("alpaca", "llamafactory"):
            path = out / f"{name}.json"
            write_json(path, [alpaca_row(ex) for ex in rows])
        else:
            path = out / f"{name}.jsonl"
            write_jsonl(path, [(sharegpt_row if fmt == "sharegpt" else messages_row)(ex) for ex in rows])
        written.append(path)
    if fmt == "llamafactory":
        written += _llamafactory(splits, out, dataset_prefix, eval_items or [], train, base_model)
    return written


def _llamafactory(splits, out: Path, dataset_prefix: str, eval_items: list[EvalItem], train: dict[str, Any] | None,
                  base_model: str | None) -> list[Path]:
    """dataset_info.json naming every split (and `<prefix>_eval`), eval.json, and train_<split>.yaml:
    `llamafactory-cli train train_<split>.yaml` run in OUT trains as the study did, logging eval loss."""
    import yaml

    prefix = re.sub(r"\W+", "_", dataset_prefix).strip("_").lower() or "instructscale"
    files = {name: f"{name}.json" for name in splits}
    written = []
    scored = [i for i in eval_items if i.reference]
    if scored:
        write_json(out / "eval.json", [{"instruction": i.question, "input": "", "output": i.reference} for i in scored])
        files["eval"] = "eval.json"
        written.append(out / "eval.json")
    info = {f"{prefix}_{name}": {"file_name": file, "columns": {"prompt": "instruction", "query": "input",
                                                                "response": "output"}} for name, file in files.items()}
    write_json(out / "dataset_info.json", info)
    written.append(out / "dataset_info.json")
    if train is None:
        return written
    for name in splits:
        per_device = train.get("per_device_batch_size", 1)
        settings = {
            "model_name_or_path": base_model or "BASE_MODEL", "stage": "sft", "do_train": True,
            "finetuning_type": "lora" if train.get("lora") else "full", "dataset": f"{prefix}_{name}",
            "dataset_dir": ".", "template": "default", "cutoff_len": train.get("max_length"),
            "per_device_train_batch_size": per_device,
            "gradient_accumulation_steps": max(1, train.get("effective_batch_size", per_device) // per_device),
            "learning_rate": train.get("learning_rate"), "num_train_epochs": train.get("epochs"),
            "lr_scheduler_type": train.get("lr_scheduler"), "warmup_steps": train.get("warmup_steps"),
            "weight_decay": train.get("weight_decay"), "seed": train.get("seed", 0), "output_dir": f"saves/{name}",
            **({"lora_rank": train.get("lora_r"), "lora_alpha": train.get("lora_alpha")} if train.get("lora") else {}),
            **({"eval_dataset": f"{prefix}_eval", "eval_strategy": "epoch", "per_device_eval_batch_size": per_device}
               if scored else {})}
        path = out / f"train_{name}.yaml"
        write_text(path, "# LLaMA-Factory: llamafactory-cli train " + path.name + " (in this folder; a chat model"
                   " wants its own template)\n" + yaml.safe_dump({k: v for k, v in settings.items() if v is not None},
                                                                  sort_keys=False, allow_unicode=True))
        written.append(path)
    return written


def read_conversations(path: str | Path, multi_turn: Literal["split", "reject"] = "split"
                       ) -> tuple[list[InstructionExample], Counter]:
    """Examples from ShareGPT / `messages` rows, and counts: conversations read, examples made,
    multi-turn conversations rejected, conversations without a reply (no assistant turn after a user turn)."""
    examples, counts = [], Counter()
    for line, row in iter_rows(path):
        counts["conversations"] += 1
        turns = _turns(row, path, line)
        replies = [i for i, (role, _) in enumerate(turns) if role == "assistant" and i > 0 and turns[i - 1][0] == "user"]
        if not replies:
            counts["no_reply"] += 1
            continue
        if len(replies) > 1 and multi_turn == "reject":
            counts["rejected_multi_turn"] += 1
            continue
        for k, i in enumerate(replies):
            history = "\n".join(f"{HISTORY_NAMES[role]}: {text}" for role, text in turns[:i - 1])
            base_id = str(row.get("id") or "")
            record = {"instruction": turns[i - 1][1], "input": history, "output": turns[i][1],
                      "category": row.get("category"), "source": "conversations",
                      "id": (base_id if len(replies) == 1 else f"{base_id}-{k}") if base_id else ""}
            examples.append(validate_row(InstructionExample, record, path=path, line=line))
    counts["examples"] = len(examples)
    return examples, counts


def _turns(row: dict[str, Any], path, line) -> list[tuple[str, str]]:
    """[(role, text)] of a ShareGPT (`conversations`: from/value) or OpenAI (`messages`: role/content) row."""
    key = "conversations" if "conversations" in row else "messages" if "messages" in row else None
    if key is None or not isinstance(row[key], list):
        raise InputError("expected a 'conversations' (ShareGPT) or 'messages' (OpenAI) list", path=path, line=line,
                         field=key or "conversations")
    turns = []
    for j, turn in enumerate(row[key]):
        if not isinstance(turn, dict):
            raise InputError("expected an object per turn", path=path, line=line, field=f"{key}.{j}")
        role, text = turn.get("from", turn.get("role")), turn.get("value", turn.get("content"))
        if role not in ROLES:
            raise InputError(f"unknown speaker {role!r} (have: {', '.join(ROLES)})", path=path, line=line,
                             field=f"{key}.{j}.{'from' if 'from' in turn else 'role'}")
        if not isinstance(text, str):
            raise InputError("expected the turn's text as a string", path=path, line=line,
                             field=f"{key}.{j}.{'value' if 'from' in turn else 'content'}")
        turns.append((ROLES[role], text))
    return turns
