"""The billing cycle really runs under pg_cron on the local stack (not just: the job row exists)."""

from __future__ import annotations

import time

from thinbase.local.stack import LocalStack


def test_pg_cron_runs_the_billing_cycle_command(stack: LocalStack) -> None:
    with stack.superuser_connection() as conn:
        job = conn.execute(
            "select command, username from cron.job where jobname = 'thinbase-billing-cycle'"
        ).fetchone()
        assert job == {"command": "select public.run_billing_cycle()", "username": "postgres"}
        # pg_cron 1.4 schedules by the minute: run the same command, as the same role, every minute and
        # wait for one run to finish (at most ~60 s).
        started = conn.execute("select now() as t").fetchone()
        assert started is not None
        conn.execute("set role postgres")
        test_job = conn.execute(
            "select cron.schedule('thinbase-billing-cycle-test', '* * * * *', %s) as id", (job["command"],)
        ).fetchone()
        conn.execute("reset role")
        assert test_job is not None
        try:
            deadline = time.monotonic() + 90
            run = None
            while time.monotonic() < deadline:
                run = conn.execute(
                    "select status, return_message from cron.job_run_details "
                    "where jobid = %s and start_time >= %s and status in ('succeeded', 'failed') limit 1",
                    (test_job["id"], started["t"]),
                ).fetchone()
                if run:
                    break
                time.sleep(1)
            assert run is not None, "pg_cron did not run the job within 90 s"
            assert run["status"] == "succeeded", run["return_message"]
        finally:
            conn.execute("select cron.unschedule(%s)", (test_job["id"],))
