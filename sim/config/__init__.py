"""The scenario config: the schema (:mod:`sim.config.schema`) and its loading (:mod:`sim.config.loading`)."""

from sim.config.loading import apply_overrides, dump_yaml, load_scenario, validate_command
from sim.config.schema import *  # noqa: F403  (the models, re-exported under sim.config)
from sim.config.schema import __all__ as _schema_all

__all__ = [*_schema_all, "apply_overrides", "dump_yaml", "load_scenario", "validate_command"]
