"""`--max-cost`: the run's spent cost (the stored provider cost of all its samples, earlier sessions included)
and whether one more sample may start without the run passing the budget. A sample is expected to cost what
the model's samples cost so far on average; the samples already in flight are counted at that price too, so
the budget is passed by at most what the calls in flight cost beyond their expectation. BatchBudget is the
same for `--batch`, where a whole round is paid for as it is sent.
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


class BatchBudget:
    """`--max-cost` with `--batch`. A batch is paid for once it is sent, so a round goes out only as far as the
    budget allows: each request counts at its expected cost from the moment it is sent until its sample is
    stored (then at its stored cost). The budget is passed by at most what the requests in flight cost beyond
    their expectation; with the output expected at max_tokens (an upper bound, until a model's replies are
    known) not at all."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.reached = False
        self._in_flight: dict[tuple[str, str], float] = {}  # (model, custom id) -> paid before it + expected

    def in_flight(self) -> float:
        return sum(self._in_flight.values())

    def choose(self, spent: float, must: list[tuple[str, float]], rest: list[tuple[str, float]]) -> list[str]:
        """The ids of the requests to send now, given `spent` (the stored cost and what the waiting requests'
        earlier turns cost): every one of `must` (turns of samples under way, whose history would be lost) or
        none, then `rest` in order while they fit. Anything left out sets `reached`."""
        room = self.limit - spent - self.in_flight()
        need = sum(cost for _, cost in must)
        if need > room or (not must and rest and rest[0][1] > room):
            self.reached = True
            return []
        chosen, room = [i for i, _ in must], room - need
        for i, cost in rest:
            if cost > room:
                self.reached = True
                break
            chosen.append(i)
            room -= cost
        return chosen

    def sent(self, model: str, costs: dict[str, float]) -> None:
        """Requests sent, by custom id: their paid-so-far plus expected cost, until collected."""
        self._in_flight.update({(model, cid): cost for cid, cost in costs.items()})

    def collected(self, model: str, ids) -> None:
        for cid in ids:
            self._in_flight.pop((model, cid), None)
