"""Secrets out of every error text before it is stored, printed or raised.

Some proxies and gateways repeat the request's Authorization header in their error body,
so an API error can carry the key. `redact` removes the current values of the key
environment variables that client configs name (registered when a client is built;
OPENAI_API_KEY always) and anything shaped like a bearer token or an `sk-...` key.
"""

from __future__ import annotations

import os
import re

MASK = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values would blank ordinary words; real keys are far longer

_key_envs: set[str] = {"OPENAI_API_KEY"}
_TOKENS = re.compile(
    r"(?i)(\bbearer\s+)[^\s\"',;]+"  # Authorization: Bearer <token>
    r"|\bsk-[A-Za-z0-9_\-]{6,}"  # OpenAI-style keys
    r"|((?:api[-_]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;]+")


def register_key_env(name: str) -> None:
    """Remember an environment variable that holds an API key, so its value is redacted."""
    _key_envs.add(name)


def redact(text: str | None) -> str | None:
    """`text` with API keys and token-shaped strings replaced by [redacted]."""
    if not text:
        return text
    for name in _key_envs:
        value = os.environ.get(name)
        if value and len(value) >= MIN_SECRET_CHARS:
            text = text.replace(value, MASK)
    return _TOKENS.sub(lambda m: (m.group(1) or m.group(2) or "") + MASK, text)
