"""Options of every command that calls an OpenAI-compatible API, defined once so their
names, defaults and help read the same everywhere (`generate`, `judge`, `respond`)."""

from __future__ import annotations

import typer

API_KEY_ENV = typer.Option("OPENAI_API_KEY", "--api-key-env",
                           help="Name of the environment variable holding the API key (the key is never written anywhere).")
TIMEOUT = typer.Option(60.0, "--timeout", help="Per-request timeout in seconds.")
MAX_ATTEMPTS = typer.Option(5, "--max-attempts", min=1, help="Attempts per request before it counts as failed.")
RPM = typer.Option(None, "--rpm", help="Requests-per-minute limit.")
TPM = typer.Option(None, "--tpm", help="Tokens-per-minute limit (estimated).")
PRICE_TABLE = typer.Option(None, "--price-table", help="YAML price table (USD per 1M tokens) for cost figures.")
MAX_FAILED_SHARE = typer.Option(0.1, "--max-failed-share", min=0.0, max=1.0,
                                help="Exit non-zero when more than this share of API calls failed after all "
                                "retries (or all of them); failed records are redone by a rerun.")
DRY_RUN = typer.Option(False, "--dry-run", help="Estimate requests, tokens and cost; call nothing.")
BATCH = typer.Option(False, "--batch", help="Send the requests as OpenAI Batch API jobs (half price, replies within "
                     "24 h); batch ids are kept beside --out and a rerun collects them (docs/batch.md).")
BATCH_POLL = typer.Option(30.0, "--batch-poll", min=0.001, help="Batch mode: seconds between status checks.")
BATCH_WAIT = typer.Option(None, "--batch-wait", min=0.0, help="Batch mode: stop waiting after this many seconds, "
                          "leaving the batches running for a rerun to collect [default: wait until done].")


def cost_text(estimate: dict, digits: int = 4) -> str:
    """A dry run's cost both ways from the price table: online and through the Batch API."""
    online, batch = estimate.get("cost_usd_online"), estimate.get("cost_usd_batch")
    if online is None:
        return "unknown (model not in the price table)"
    mode = "batch" if estimate.get("batch") else "online"
    return (f"${online:.{digits}f} online, " + ("no batch price" if batch is None else f"${batch:.{digits}f} batch")
            + f" (this run: {mode})")


def old_spelling(name: str) -> typer.models.OptionInfo:
    """A hidden option for a flag's former name, so scripts written against it keep working.
    The vocabulary: --model is the model under test; --teacher-model, --judge-model and
    --rater-model the API models that generate, judge and rate; --prompts a prompt file or set."""
    return typer.Option(None, name, hidden=True)
