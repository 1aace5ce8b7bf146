"""`triage consume` as a real process: killed between publish and ack, the redelivery gets the
stored decision (one audit row); SIGTERM drains what is in hand and exits 0. Against the
machine's NATS JetStream and RabbitMQ; the rest of the run is taken by a consumer in the
test's event loop (`tests.bus.test_consume.consumer`).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from api.bus.config import BusConfig
from tests.api.conftest import order_body
from tests.bus.peers import Peer, audited, consumer, require_broker, total, unique_config
from triage.settings import Settings

pytestmark = pytest.mark.integration
SCHEMES = ["nats", "amqp"]


class Process:
    """`triage consume` as a child process, with its stdout read on a thread."""

    def __init__(self, settings: Settings, url: str, config: BusConfig, *extra: str) -> None:
        env = {**os.environ, "TRIAGE_HOME": str(settings.home), "TRIAGE_BUNDLE_DIR": str(settings.bundle_dir),
               "TRIAGE_BUS_FETCH_TIMEOUT_SECONDS": "0.2", "TRIAGE_BUS_RETRY_DELAY_SECONDS": "0.1"}
        env.pop("TRIAGE_DATABASE_URL", None)
        env.pop("TRIAGE_REDIS_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "triage", "consume", "--broker", url, "--prefix", config.prefix,
             "--stream", config.stream, "--durable", config.durable, "--metrics-port", "0",
             "--ack-wait-seconds", str(config.ack_wait_seconds), "--batch-max", str(config.batch_max),
             "--max-in-flight", str(config.max_in_flight), *extra],
            stdout=subprocess.PIPE, stderr=self._log_file(settings), text=True, env=env,
            cwd=Path(__file__).parents[2],
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _log_file(self, settings: Settings):
        self.log = Path(settings.home).parent / f"consume-{uuid.uuid4().hex[:6]}.log"
        return self.log.open("w")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if "ready" in self.lines.get_nowait():
                    return
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"consumer exited {self.proc.returncode}: {self.log.read_text()}") from None
                await asyncio.sleep(0.05)
        raise AssertionError("consumer not ready")

    def state(self) -> str:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_redelivery_after_a_crash_between_publish_and_ack_gives_the_stored_decision(scheme, settings):
    url = require_broker(scheme)
    config = unique_config()

    async def run() -> None:
        async with Peer(scheme, config) as peer:
            proc = Process(settings, url, config, "--fault", "stop-before-ack")
            try:
                await proc.ready()
                body = order_body()
                await peer.publish("orders", body, message_id="ev-crash", correlation_id="corr-crash")
                (first,) = await peer.wait_for("decisions", 1, timeout=30)
                for _ in range(200):  # published, and stopped before the ack ...
                    if proc.state() == "T":
                        break
                    await asyncio.sleep(0.02)
                assert proc.state() == "T"
            finally:
                proc.kill()  # ... and killed there
            assert first["replayed"] is False
            async with consumer(settings, url, config) as c:
                second = (await peer.wait_for("decisions", 2, timeout=30))[1]
                assert total(c.metrics.replayed) == 1 and total(c.metrics.decided) == 0
            assert second["replayed"] is True
            assert second["decision"] == first["decision"]  # the stored decision, not a new one
            assert (second["event_id"], second["correlation_id"]) == ("ev-crash", "corr-crash")
        rows = audited(settings)
        assert [r.idempotency_key for r in rows] == ["order:key:ev-crash"]
        assert rows[0].decision_id == first["decision"]["decision_id"]

    asyncio.run(run())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sigterm_drains_what_is_in_hand_and_exits_cleanly(scheme, settings):
    url = require_broker(scheme)
    config = unique_config(batch_max=2, max_in_flight=2)
    n = 60

    async def run() -> None:
        async with Peer(scheme, config) as peer:
            ids = [f"o-drain-{uuid.uuid4().hex[:8]}" for _ in range(n)]
            for oid in ids:
                await peer.publish("orders", order_body(oid))
            proc = Process(settings, url, config)
            try:
                await proc.ready()
                await peer.wait_for("decisions", 1, timeout=30)
                proc.proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(proc.proc.wait, 20)
            finally:
                proc.kill()
            assert code == 0
            await asyncio.sleep(0.1)
            assert "drained" in "".join(proc.lines.queue)
            await asyncio.sleep(0.2)
            by_first = len(peer.got["decisions"])
            assert by_first == len(audited(settings))  # everything decided was published (and acked)
            async with consumer(settings, url, config.model_copy(update={"batch_max": 32, "max_in_flight": 32})):
                got = await peer.wait_for("decisions", n, timeout=30)
            assert sorted(d["decision"]["event_id"] for d in got) == sorted(ids)
            assert not any(d["replayed"] for d in got)  # nothing decided was left unacked
            assert len(audited(settings)) == n

    asyncio.run(run())
