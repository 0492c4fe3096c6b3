"""The judge stage: score responses with an LLM judge (the study's category prompts) or,
offline, with reference-based metrics. Entry point: `run_judge(JudgeConfig)`."""

from instructscale.judge.config import JudgeConfig, JudgeSummary
from instructscale.judge.parse import ParsedScore, parse_score
from instructscale.judge.prompts import PromptSet, load_prompt_set
from instructscale.judge.reference import score_reference
from instructscale.judge.run import run_judge
from instructscale.judge.summary import CategoryStats, ItemScore, category_stats, item_scores

__all__ = ["CategoryStats", "ItemScore", "JudgeConfig", "JudgeSummary", "ParsedScore", "PromptSet",
           "category_stats", "item_scores", "load_prompt_set", "parse_score", "run_judge", "score_reference"]
