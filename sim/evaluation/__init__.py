"""Batch evaluation: sweeps of runs sharing one LLM pool, behaviour metrics, statistics and a report.

Modules, one idea each: :mod:`~sim.evaluation.sweep` (the sweep file), :mod:`~sim.evaluation.metrics`
(metrics of one run from its event store), :mod:`~sim.evaluation.judge` (the model's part: survey and
persona consistency), :mod:`~sim.evaluation.stats` (confidence intervals and tests),
:mod:`~sim.evaluation.report` (results.parquet, report.md, report.html), :mod:`~sim.evaluation.runner`
(running a sweep as Ray tasks, resumable) and :mod:`~sim.evaluation.bench` (``mesaverse bench eval``).
"""

__all__ = ["bench", "judge", "metrics", "report", "runner", "stats", "sweep"]
