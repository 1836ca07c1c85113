"""The HTML report: one self-contained file with the summary, heatmaps, tables and manifest."""

from .html import write_report

__all__ = ["write_report"]
