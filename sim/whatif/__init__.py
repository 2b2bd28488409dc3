"""What if: forks of a run, events applied mid-run (a file or injected live), interviews.

- :mod:`sim.whatif.events`: the events file (validated like scenario files);
- :mod:`sim.whatif.settings`: which config keys may change mid-run, and how they are applied;
- :mod:`sim.whatif.interventions`: applying events at a tick boundary, recorded as ``intervention``
  events, and their part of checkpoints (so resume reproduces them);
- :mod:`sim.whatif.fork`, :mod:`sim.whatif.inject`, :mod:`sim.whatif.interview`: the three commands.
"""
