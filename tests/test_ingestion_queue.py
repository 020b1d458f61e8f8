"""The ingestion queue every process shares (services/jobs.py), seen from one process.

A job held by a process of another machine waits until its lease runs out, then is run
again; one held by a process of this machine that is gone is run at once; a source that
brought its process down again and again is failed with a reason instead of looping.
(tests/test_scale_out.py kills a real process holding a job while another serves;
test_knowledge_lifecycle.py restarts the only one.)
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
from conftest import assert_envelope

from companin.db import db
from companin.identity import Principal
from companin.models import IngestionJob
from companin.services import jobs
from companin.services.knowledge import store_file
from companin.state import state_of

API = "/api/v1"
LEASE_S = 2.0
TEXT = b"The depot in Ghent opens at seven. Forklifts are charged overnight."


@pytest.fixture
def app_config(app_config):
    return {**app_config, "INGEST_POLL_S": 0.1}


def queued_and_held_by(app, org, owner: str, lease_s: float) -> str:
    """A file source whose job `owner` claimed at once, as if that process had received the
    upload (through the same service the API uses; this process's worker is not woken)."""
    principal = Principal(kind="server", org_id=uuid.UUID(org.organization_id))

    def held(source_id: uuid.UUID) -> None:
        jobs.enqueue(source_id, owner=owner, lease_s=lease_s)

    with app.app_context(), db.connection_context():
        return str(store_file(principal, {}, "depot.txt", TEXT, held).id)


def status(client, org, source_id: str) -> dict:
    path = f"{API}/knowledge/sources/{source_id}"
    return assert_envelope(client.get(path, headers=org.headers), 200)


def wait_until_settled(client, org, source_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (source := status(client, org, source_id))["status"] == "processing":
        assert time.monotonic() < deadline, source
        time.sleep(0.05)
    return source


def job_of(source_id: str) -> IngestionJob | None:
    with db.connection_context():
        return IngestionJob.get_or_none(IngestionJob.source == uuid.UUID(source_id))


def a_gone_process_of_this_machine() -> str:
    """The name a process of this machine had, whose pid no longer runs."""
    probe = subprocess.Popen(["true"])
    probe.wait()
    machine = jobs.process_name().split("#")[0]
    return f"{machine}#{probe.pid}#0badc0de"


def test_a_job_another_machine_holds_waits_for_its_lease_then_is_run_again(app, client, org):
    other_machine = "another-host/boot/pid:[1]#4242#abcd0123"
    source_id = queued_and_held_by(app, org, other_machine, lease_s=LEASE_S)
    claimed_at = time.monotonic()

    state_of(app).ingestion.start()
    time.sleep(LEASE_S / 2)  # many polls: a pid of another machine means nothing here
    waiting = status(client, org, source_id)
    still_theirs = job_of(source_id).owner
    settled = wait_until_settled(client, org, source_id)

    assert waiting["status"] == "processing" and still_theirs == other_machine
    assert time.monotonic() - claimed_at >= LEASE_S
    assert settled["status"] == "ready" and settled["chunk_count"] == 1, settled
    assert job_of(source_id) is None


def test_a_job_of_a_process_of_this_machine_that_is_gone_is_run_at_once(app, client, org):
    # Its lease would last a minute more: the pid tells this machine it is over now.
    source_id = queued_and_held_by(app, org, a_gone_process_of_this_machine(), lease_s=60)
    started = time.monotonic()

    resumed = state_of(app).ingestion.start()
    settled = wait_until_settled(client, org, source_id)

    assert resumed == 1
    assert settled["status"] == "ready" and settled["chunk_count"] == 1, settled
    assert time.monotonic() - started < 30


def test_a_source_that_stopped_its_process_again_and_again_is_failed_with_a_reason(
    app, client, org
):
    source_id = queued_and_held_by(app, org, a_gone_process_of_this_machine(), lease_s=60)
    with db.connection_context():
        IngestionJob.update(attempts=jobs.MAX_ATTEMPTS).where(
            IngestionJob.source == uuid.UUID(source_id)
        ).execute()

    state_of(app).ingestion.start()
    settled = wait_until_settled(client, org, source_id)

    assert settled["status"] == "failed", settled
    assert f"Processing stopped {jobs.MAX_ATTEMPTS} times" in settled["error"]
    assert job_of(source_id) is None


def test_a_job_with_a_running_owner_on_this_machine_is_left_to_it(app, client, org):
    # This very process holds it (as `companin ingest` does while it works): never freed.
    ingestion = state_of(app).ingestion
    source_id = queued_and_held_by(app, org, ingestion.owner, lease_s=60)

    ingestion.start()
    time.sleep(0.5)

    assert status(client, org, source_id)["status"] == "processing"
    assert job_of(source_id).owner == ingestion.owner
