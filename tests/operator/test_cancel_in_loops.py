"""The operator's long-running loops end when cancelled, whatever the timing.

On Python 3.11, `asyncio.wait_for` returns the inner result when a cancellation arrives just as
the inner awaitable finishes, and the cancellation is lost: a loop around it then runs on, and
whoever awaits the cancelled task (shutdown, a leadership hand-over) waits forever. `make test`
once hung in `test_leader_election_hands_over` so. Each test here blocks the loop's wait on a
gate, opens it, cancels the loop 0, 1, 2, … event-loop turns later, and requires the task to
end (on the old code, the cancellation was lost at 0 turns for one loop, 1 for the other).
"""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client

from inference_gateway.operator.kube.leader import LeaderElector, LeaseSettings
from inference_gateway.operator.kube.reconcile import Reconciler

TURNS = 8  # event-loop turns between the wait ending and the cancellation, swept from 0


async def _ends_when_cancelled(start, gate: asyncio.Event, turns: int) -> None:
    """Start the loop, let it block on `gate`, open it, cancel `turns` turns later."""
    task = asyncio.get_running_loop().create_task(start())
    for _ in range(3):
        await asyncio.sleep(0)
    gate.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    while not task.done():  # a lost cancellation: stop the loop anyway, or the test never ends
        task.cancel()
        await asyncio.sleep(0.01)
    assert done, f"the loop ran on after a cancellation {turns} turns after its wait ended"
    assert task.cancelled()


async def test_leader_election_loop_ends_when_cancelled() -> None:
    settings = LeaseSettings(lease_duration=2, renew_deadline=1.5, retry_period=0.01)
    async with client.ApiClient() as api:  # never called: the renewal is replaced
        for turns in range(TURNS):
            gate = asyncio.Event()

            async def renewed(gate: asyncio.Event = gate) -> bool:  # answers when the test says
                await gate.wait()
                return True

            elector = LeaderElector(api, "a", settings)
            elector._try_acquire_or_renew = renewed  # type: ignore[method-assign]
            await _ends_when_cancelled(elector.run, gate, turns)


async def test_reconcile_loop_ends_when_cancelled() -> None:
    async with client.ApiClient() as api:  # never called: the pass is replaced
        for turns in range(TURNS):
            reconciler = Reconciler(api, store=None, ads=None, settings=None, interval=5.0)  # type: ignore[arg-type]
            kicked = asyncio.Event()

            async def idle() -> None:
                pass

            async def kick_when_told(r: Reconciler = reconciler, kicked: asyncio.Event = kicked) -> None:
                await kicked.wait()
                r.kick()

            reconciler.reconcile_once = idle  # type: ignore[method-assign]
            helper = asyncio.get_running_loop().create_task(kick_when_told())
            await _ends_when_cancelled(reconciler.run, kicked, turns)
            await helper
