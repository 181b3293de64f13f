"""The server process exempts its start-up heap from the garbage collector.

Run in a child process: freezing the heap of the test process itself would keep every
object the rest of the suite makes in the permanent generation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.api.app import GC_THRESHOLDS

_CHILD = """
import asyncio, gc, json, sys
from litestar.testing import AsyncTestClient
from exchange.api.app import create_app
from exchange.settings import Settings

async def main(settle):
    app = create_app(Settings(database_url=sys.argv[1]), settle_heap=settle)
    async with AsyncTestClient(app) as client:
        healthy = (await client.get("/healthz")).status_code
        return {"healthy": healthy, "frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}

print(json.dumps(asyncio.run(main(sys.argv[2] == "settle"))))
"""


def _child(tmp_path: Path, how: str) -> dict[str, object]:
    url = f"sqlite:///{tmp_path / how}.db"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, url, how], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("how", ["settle", "plain"])
def test_the_server_freezes_its_start_up_heap(tmp_path: Path, how: str) -> None:
    state = _child(tmp_path, how)
    assert state["healthy"] == 200
    if how == "settle":
        # Modules, the zip table and the caches: far more than any request leaves behind.
        assert state["frozen"] > 50_000
        assert tuple(state["thresholds"]) == GC_THRESHOLDS  # type: ignore[arg-type]
    else:
        assert state["frozen"] == 0
        assert tuple(state["thresholds"]) == (700, 10, 10)  # type: ignore[arg-type]
