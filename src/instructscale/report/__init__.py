"""The report stage: per-category scaling table and curves with bootstrap CIs, trend
verdicts, judge diagnostics and a self-contained HTML report with an item browser.
Entry point: `build_report(ReportConfig) -> ReportSummary`."""

from instructscale.report.build import ReportSummary, build_report
from instructscale.report.config import ReportConfig, VerdictThresholds
from instructscale.report.tables import rich_table

__all__ = ["ReportConfig", "ReportSummary", "VerdictThresholds", "build_report", "rich_table"]
