"""The one API layer every stage uses to talk to OpenAI-compatible chat endpoints."""

from instructscale.llm.cache import ReplyCache, cached_chat
from instructscale.llm.client import ChatClient, ChatResult, ClientConfig, ServerUnreachableError
from instructscale.llm.usage import UsageMeter, estimate_asks, estimate_cost, estimate_tokens, load_price_table

__all__ = ["ChatClient", "ChatResult", "ClientConfig", "ReplyCache", "ServerUnreachableError", "UsageMeter", "cached_chat", "estimate_asks",
           "estimate_cost", "estimate_tokens", "load_price_table"]
