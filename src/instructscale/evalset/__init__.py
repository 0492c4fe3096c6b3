"""Evaluation-set tools (the study's section 3.2, Table 1): import the public release
format, per-category statistics, build / export / merge an annotated set, and a
decontamination check against a training pool."""

from instructscale.evalset.annotate import build_evalset, export_sheet, merge_sheet
from instructscale.evalset.decontam import Overlap, find_overlaps
from instructscale.evalset.load import ImportResult, import_evalset, read_eval_items
from instructscale.evalset.stats import evalset_stats, stats_table

__all__ = ["ImportResult", "Overlap", "build_evalset", "evalset_stats", "export_sheet", "find_overlaps",
           "import_evalset", "merge_sheet", "read_eval_items", "stats_table"]
