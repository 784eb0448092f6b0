"""A seeded discrete-event scheduler on a virtual clock, with cooperative tasks.

Workers (planner, enactors) are tasks: ordinary synchronous core code in a greenlet whose
injected ``sleep`` hands control back here. Every sleep, and every plan-store or DNS
operation (lab/sim/world.py gives each a small seeded latency), is a scheduling point: the
order in which tasks, clients and faults interleave is decided by the virtual times and,
for equal times, by the order they were scheduled. The same seed gives the same run.

A paused task (docker pause: the freezer) does not run until it is thawed; a killed task
never runs again, and nothing of it runs on the way out (no ``finally``: a SIGKILLed process
releases no lock; its locks expire with their TTL).
"""

import heapq
from typing import Callable

import greenlet


class Task:
    def __init__(self, name: str, fn: Callable[[], None]):
        self.name = name
        self.fn = fn
        self.glet: greenlet.greenlet | None = None
        self.paused = False
        self.dead = False
        self.due_while_paused = False
        self.debt = 0.0          # time its instant reads took, paid at its next sleep
        #                          (lab/sim/world.py's reads add to it)
        self.spans: list | None = None   # while a pass is watched: its reads' latency spans
        # A quiet pass the task need not run again (lab/sim/world.py's idle enactors): when
        # the task is due, ``repeat()`` returns when it would next be due had it run the
        # same pass (drawing what the pass draws), or None when it must really run.
        self.repeat: Callable[[], float | None] | None = None


class Scheduler:
    def __init__(self, start: float = 0.0):
        self.now = start
        self._heap: list = []
        self._seq = 0
        self.current: Task | None = None
        self._main = greenlet.getcurrent()
        self._graveyard: list[Task] = []
        self._tasks: list[Task] = []
        self.closed = False
        self._until = float("-inf")     # what the running run_until runs up to
        self.yields = 0                 # tasks' scheduling points so far (every sleep)

    # -- timers -------------------------------------------------------------------------
    def at(self, t: float, callback: "Callable[[], None] | Task") -> None:
        """Call ``callback`` (or resume a task) at virtual time ``t``."""
        self._seq += 1
        heapq.heappush(self._heap, (max(t, self.now), self._seq, callback))

    def run_until(self, t: float) -> None:
        """Run everything due up to virtual time ``t``; then the clock reads ``t``."""
        heap, pop = self._heap, heapq.heappop
        self._until = t
        while heap and heap[0][0] <= t:
            when, _, due = pop(heap)
            self.now = when
            if due.__class__ is Task:
                # resume the task (inline: a run resumes its tasks hundreds of times)
                if due.dead:
                    continue
                if due.paused:
                    due.due_while_paused = True
                    continue
                repeat = due.repeat
                if repeat is not None:
                    # Its pass would see what the last one saw: the same draws, no event, due
                    # again when its sleep would end (pushed as that sleep would push it; the
                    # smallest entry pops next, as the sleep's shortcut would go on inline).
                    wake = repeat()
                    if wake is not None:
                        self._seq += 1
                        heapq.heappush(heap, (wake, self._seq, due))
                        continue
                    due.repeat = None
                self.current = due
                try:
                    due.glet.switch()
                finally:
                    self.current = None
            else:
                due()
        if t > self.now:
            self.now = t

    # -- tasks ----------------------------------------------------------------------------
    def spawn(self, name: str, fn: Callable[[], None], delay: float = 0.0) -> Task:
        task = Task(name, fn)
        task.glet = greenlet.greenlet(self._body(task), parent=self._main)
        self._tasks.append(task)
        self.at(self.now + delay, task)
        return task

    def _body(self, task: Task):
        def body():
            try:
                task.fn()
            finally:
                task.dead = True
        return body


    def sleep(self, seconds: float) -> None:
        """In a task: come back after ``seconds`` of virtual time. Outside (the run loop's
        own waits): run the simulation for that long."""
        if self.closed:
            raise greenlet.GreenletExit      # a task being ended: no more waiting
        task = self.current
        if task is None:
            self.run_until(self.now + seconds)
            return
        self.yields += 1
        if task.debt:
            seconds, task.debt = seconds + task.debt, 0.0
        wake = self.now + seconds if seconds > 0 else self.now
        heap = self._heap
        if wake <= self._until and (not heap or wake < heap[0][0]):
            # Nothing else is due before it (an equal time was scheduled earlier and goes
            # first): the scheduler would resume this task next, at ``wake``. Go on without
            # the round trip; the order of everything is the same.
            self.now = wake
            return
        self._seq += 1
        heapq.heappush(heap, (wake, self._seq, task))
        self._main.switch()

    def pause(self, task: Task) -> None:
        task.paused = True

    def thaw(self, task: Task) -> None:
        task.paused = False
        if task.due_while_paused:
            task.due_while_paused = False
            self.at(self.now, task)

    def kill(self, task: Task) -> None:
        """The task never runs again. Its greenlet is kept, so no ``finally`` of it runs."""
        task.dead = True
        self._graveyard.append(task)

    def close(self) -> None:
        """After the run (its history taken): end every task still suspended, killed ones
        included. Their ``finally`` blocks run now, with time stopped (a wait ends them at
        once); until then a suspended greenlet keeps its whole run alive (a cycle the
        garbage collector cannot break), and a search runs thousands."""
        self.closed = True
        self._heap.clear()
        for task in self._tasks:
            glet = task.glet
            if glet is not None and glet and not glet.dead:
                try:
                    glet.throw(greenlet.GreenletExit)
                except Exception:
                    pass
            task.glet = None
        self._tasks.clear()
        self._graveyard.clear()
