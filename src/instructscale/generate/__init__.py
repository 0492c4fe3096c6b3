"""Self-instruct data generation (Alpaca style) with near-duplicate filtering that works on Chinese."""

from instructscale.generate.config import GenerateConfig, GenerateSummary
from instructscale.generate.dedup import NearDupIndex
from instructscale.generate.run import run_generate
from instructscale.generate.seeds import SeedTask, load_seed_tasks

__all__ = ["GenerateConfig", "GenerateSummary", "NearDupIndex", "SeedTask", "load_seed_tasks", "run_generate"]
