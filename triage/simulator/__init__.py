"""The simulated retailer: a complete, deterministic dataset in the contract shape.

`simulate(out_dir, orders=..., days=..., seed=..., fmt=...)` writes every contract table
plus `truth/orders.csv` and `truth/returns.csv`, the exact probabilities each label was
drawn from (the oracle a model is measured against).
"""

from triage.simulator.run import SimulationSummary, simulate

__all__ = ["simulate", "SimulationSummary"]
