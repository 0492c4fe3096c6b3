"""Dataset loader of the `instructscale_demo_mc` lm-eval task: the JSON Lines file next to
this one, so the task works wherever the package is installed (lm-eval would resolve a
`data_files` path against the working directory)."""

from pathlib import Path


def load_demo_mc(**_metadata):
    from datasets import Dataset

    return {"test": Dataset.from_json(str(Path(__file__).with_name("demo_mc.jsonl")))}
