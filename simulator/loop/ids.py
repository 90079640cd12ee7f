"""Where every new task, trace and decision id of a run comes from.

Ids are counters, never random, and they continue the store's: a generation's evaluation
traces come first, then its deployment tasks and traces, then its reference tasks and traces,
then its curation decisions. One allocator per generation hands them out in that order, so no
stage keeps its own counter and a resumed run numbers its rows exactly as the first run did.
"""

from __future__ import annotations

from dataclasses import dataclass

from iterdeploy.simulator.store import RunWriter


@dataclass
class IdAllocator:
    """The next free id of each counted table."""

    next_task: int
    next_trace: int
    next_decision: int

    @classmethod
    def after_store(cls, writer: RunWriter) -> IdAllocator:
        """Ids that continue what ``writer``'s store holds."""
        return cls(next_task=writer.next_id("tasks", "task_id"),
                   next_trace=writer.next_id("traces", "trace_id"),
                   next_decision=writer.next_id("curation_decisions", "decision_id"))

    def tasks(self, n: int) -> list[int]:
        """``n`` consecutive new task ids."""
        first, self.next_task = self.next_task, self.next_task + n
        return list(range(first, first + n))

    def traces(self, n: int) -> list[int]:
        """``n`` consecutive new trace ids."""
        first, self.next_trace = self.next_trace, self.next_trace + n
        return list(range(first, first + n))

    def decision(self) -> int:
        """One new decision id."""
        self.next_decision += 1
        return self.next_decision - 1
