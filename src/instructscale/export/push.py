"""`push_export`: upload an export folder to the Hugging Face Hub with huggingface_hub: the
dataset folder as dataset repo ORG/NAME, each model folder as model repo ORG/NAME-<model>.
The token is whatever huggingface_hub finds (HF_TOKEN, or a `huggingface-cli login`); it is
never passed through, written or printed here."""

from __future__ import annotations

from pathlib import Path

from instructscale.console import console
from instructscale.errors import ConfigError
from instructscale.export.hub import ExportSummary, model_repo_id


def push_export(summary: ExportSummary, *, private: bool = False, endpoint: str | None = None) -> dict[str, str]:
    """Create the repos (if missing) and upload every folder of `summary` in one commit each;
    returns folder -> repo URL. `endpoint`: another Hub (default: HF_ENDPOINT or huggingface.co)."""
    from huggingface_hub import HfApi

    if not summary.repo_id or summary.repo_id.count("/") != 1:
        raise ConfigError(f"--push-to-hub needs ORG/NAME, got '{summary.repo_id}'")
    api = HfApi(endpoint=endpoint)
    uploads = [(summary.dataset, summary.repo_id, "dataset")]
    uploads += [(folder, model_repo_id(summary.repo_id, name), "model") for name, folder in summary.models.items()]
    urls = {}
    for folder, repo_id, repo_type in uploads:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=Path(folder), repo_id=repo_id, repo_type=repo_type,
                                 commit_message="instructscale export")
        urls[folder] = str(info.commit_url)
        console.print(f"uploaded {folder} -> {repo_type} {repo_id}")
    return urls
