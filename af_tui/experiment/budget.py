"""`--max-cost`: the run's spent cost (the stored provider cost of all its samples, earlier sessions included)
and whether one more sample may start without the run passing the budget. A sample is expected to cost what
the model's samples cost so far on average; the samples already in flight are counted at that price too, so
the budget is passed by at most what the calls in flight cost beyond their expectation.
"""

from __future__ import annotations


class Budget:
    def __init__(self, limit: float | None, spent: float = 0.0,
                 known: dict[str, tuple[float, int]] | None = None) -> None:
        self.limit = limit
        self.spent = spent  # USD, stored cost of the run
        self.reached = False
        self._in_flight: dict[str, int] = {}
        self._cost = dict(known or {})  # model -> (cost, samples with a cost): stored, then this session's

    def expected(self, model: str) -> float:
        cost, n = self._cost.get(model, (0.0, 0))
        if n:
            return cost / n
        known = [c / k for c, k in self._cost.values() if k]
        return max(known) if known else 0.0  # nothing known yet: the first samples are the measurement

    def may_start(self, model: str) -> bool:
        """False (and `reached`) when this sample, at its expected cost, would take the run past the limit."""
        if self.limit is None:
            return True
        if self.reached:
            return False
        committed = self.spent + sum(n * self.expected(m) for m, n in self._in_flight.items())
        if committed + self.expected(model) > self.limit or self.spent >= self.limit:
            self.reached = True
            return False
        self._in_flight[model] = self._in_flight.get(model, 0) + 1
        return True

    def finished(self, model: str, cost: float | None) -> None:
        if self.limit is None:
            return
        self._in_flight[model] = max(0, self._in_flight.get(model, 0) - 1)
        self.spent += cost or 0.0
        c, n = self._cost.get(model, (0.0, 0))
        self._cost[model] = (c + (cost or 0.0), n + 1)
