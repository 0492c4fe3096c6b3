"""Export a study for other tools: Hub-ready dataset and model folders with cards, and the
instruction formats other trainers read (Alpaca, ShareGPT, OpenAI messages, LLaMA-Factory)."""

from instructscale.export.hub import ExportSummary, export_run

__all__ = ["ExportSummary", "export_run"]
