"""A crash between sending a final report and deleting its znode: at least once, observably.

Real zuul-scheduler, geard and ZooKeeper; GitHub is the stand-in, made to hold the final
comment unanswered so the scheduler is killed (-9) in the middle of its final report. The
restarted scheduler finds the item's final report unsent in ZooKeeper and sends it again:
the comment twice (GitHub keeps both), the commit status (sent after the comment) once, and
``zuul_final_reports_after_restart_total`` and a log line say so. doc/scheduler.rst says why
the contract is at least once.
"""
from __future__ import annotations

from tests.durable.conftest import durable_scheduler, item_ids
from tests.harness.http import get
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import Events, pr_body, tenant_file
from tests.scheduler.github_api import GitHubAPI

SHA = "61" * 20


def _metric(url: str, name: str) -> float:
    for line in get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_final_report_interrupted_by_kill_9_is_sent_again(zk_stack: Stack,
                                                           github_api: GitHubAPI) -> None:
    stack = zk_stack
    geard = stack.gearman()
    scheduler = durable_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    events = Events(geard)
    github_api.hold_comments = True
    try:
        assert events.send("pull_request", pr_body("org/project", 61, SHA)) == "accepted"
        # The final comment reached GitHub; its answer is held: kill -9 now.
        wait_for(lambda: github_api.comments("org/project", 61), 60,
                 what="the final comment sent")
        scheduler.kill()
        github_api.hold_comments = False
        assert [s for s in github_api.statuses(SHA) if s[1] != "pending"] == []
        scheduler.start()
        wait_for(lambda: ("zuul/check", "success") in github_api.statuses(SHA), 60,
                 what="the final status")
        wait_for(lambda: item_ids(scheduler.url, "check") == [], 10, what="check empty")
        comments = github_api.comments("org/project", 61)
        assert len(comments) == 2 and comments[0] == comments[1], comments
        assert [s for s in github_api.statuses(SHA) if s[1] != "pending"] == \
            [("zuul/check", "success")]
        assert _metric(scheduler.url, "zuul_final_reports_after_restart_total") == 1
        assert "sent by this scheduler after a restart" in scheduler.log_path.read_text()
    finally:
        github_api.hold_comments = False
        events.close()
