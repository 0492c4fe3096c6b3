"""When API failures make a run a failed run.

Calls that fail after all retries are kept as visible failed records and redone by the
next run, so one bad call never stops a long run. But a run whose calls all failed, or
more than `max_failed_share` of them (ClientConfig, default 0.1), has not done its work:
the command exits non-zero and says why, so scripts and schedulers notice. A study marks
such a unit `partial` (any failure at all) and retries it on the next `study run`.
"""

from __future__ import annotations

from instructscale.errors import InstructscaleError
from instructscale.redact import redact


class ApiFailureError(InstructscaleError):
    """Too many API calls of a run failed after all retries."""


def too_many_failures(failed: int, calls: int, max_share: float) -> bool:
    return failed > 0 and (failed >= calls or failed > max_share * calls)


def raise_for_failures(stage: str, failed: int, calls: int, max_share: float, example: str | None = None) -> None:
    """Raise ApiFailureError when every call failed or more than `max_share` of them did."""
    if not too_many_failures(failed, calls, max_share):
        return
    share = "all" if failed >= calls else f"more than {max_share:.0%}"
    last = f"; e.g. {redact(example)}" if example else ""
    raise ApiFailureError(f"{stage}: {failed} of {calls} API calls failed after all retries ({share}{last}); "
                          "rerun the same command to retry only the failed ones")
