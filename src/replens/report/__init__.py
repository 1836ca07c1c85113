"""The HTML report and the output folder: one self-contained page with the summary, heatmaps,
tables and manifest (:func:`write_report`), a comparison's files (:func:`write_outputs`) and a
sweep's files (:func:`write_sweep_outputs`)."""

from .bundle import write_outputs
from .html import write_report
from .sweep import write_sweep_outputs

__all__ = ["write_outputs", "write_report", "write_sweep_outputs"]
