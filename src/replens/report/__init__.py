"""The HTML report and the output folder: one self-contained page with the summary, heatmaps,
tables and manifest (:func:`write_report`), and a comparison's files (:func:`write_outputs`)."""

from .bundle import write_outputs
from .html import write_report

__all__ = ["write_outputs", "write_report"]
