"""Admin actions with good, missing, expired and wrong-tenant tokens, through real Apache."""
from __future__ import annotations

import os
import signal

from tests.harness.http import get, request
from tests.harness.process import wait_for
from tests.harness.stack import Stack
from tests.scheduler.conftest import (
    Events,
    bearer,
    edit_tenant,
    items,
    pr_body,
    start_scheduler,
    status,
    tenant_file,
)
from tests.scheduler.github_api import GitHubAPI

ADMIN = bearer(["example"])


def _post(url: str, body: object, headers: dict[str, str] | None = None):
    return request("POST", url, body=body, headers=headers)


def test_admin_auth_errors(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    api = apache.url + "/zuul/api/tenant/example"
    enqueue = api + "/project/org/project/enqueue"
    body = {"pipeline": "check", "change": "5," + "e" * 40}
    cases = [
        (None, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "invalid_request"),
        (bearer(["example"], expires_in=-60), 401, "invalid_token"),
        (bearer(["example"], secret="another-secret-of-at-least-32-bytes"), 401,
         "invalid_token"),
        (bearer(["example"], issuer="someone-else"), 401, "invalid_token"),
        (bearer(["other-tenant"]), 403, "forbidden"),
    ]
    for headers, code, error in cases:
        for method, url, payload in (("POST", enqueue, body),
                                     ("POST", api + "/project/org/project/dequeue", body),
                                     ("POST", api + "/promote", {"pipeline": "gate",
                                                                 "changes": ["1"]}),
                                     ("POST", api + "/project/org/project/autohold",
                                      {"job": "unit", "reason": "r"}),
                                     ("DELETE", api + "/autohold/1", None),
                                     ("POST", api + "/state", {"trigger_queue_paused": True}),
                                     ("POST", api + "/reconfigure", {})):
            response = request(method, url, body=payload, headers=headers)
            assert response.status == code, (method, url, headers, response.text)
            assert response.json()["error"] == error
            if code == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Autohold requests are readable without a token, as in Zuul.
    assert request("GET", api + "/autohold").json() == []
    assert request("GET", api + "/project/org/project/autohold").json() == []
    assert request("GET", api + "/autohold/1").status == 404
    star = bearer(["*"])
    assert _post(apache.url + "/zuul/api/tenant/nope/promote", {}, star).status == 404
    assert _post(api + "/project/org/nope/enqueue", body, ADMIN).status == 404
    assert _post(enqueue, {"pipeline": "nope", "change": "5"}, ADMIN).status == 404
    assert _post(enqueue, {"change": "5"}, ADMIN).status == 400
    assert _post(enqueue, {"pipeline": "check", "change": "x"}, ADMIN).status == 400
    bad = request("POST", enqueue, body=b"{not json", headers=ADMIN)
    assert bad.status == 400 and bad.json()["error"] == "bad_request"
    assert _post(api + "/promote", {"pipeline": "gate", "changes": "1"}, ADMIN).status == 400
    assert _post(api + "/promote", {"pipeline": "gate", "changes": ["99"]}, ADMIN).status \
        == 404
    assert _post(api + "/project/org/project/autohold", {"job": "unit", "reason": "r",
                                                         "count": "x"}, ADMIN).status == 400
    assert _post(api + "/project/org/project/autohold", {"job": "nope", "reason": "r"},
                 ADMIN).status == 404
    # Enqueueing a ref: newrev may only be left out for a branch or tag (its head, asked of
    # GitHub: this stand-in has no repository, so the branch does not exist); Zuul 14.3's
    # parameters need a branch or tag, and none are declared.
    main = {"pipeline": "post", "ref": "refs/heads/main"}
    missing = _post(api + "/project/org/project/enqueue", main, ADMIN)
    assert missing.status == 404 and "does not exist" in missing.json()["description"]
    assert _post(api + "/project/org/project/enqueue", {"pipeline": "post",
                 "ref": "refs/changes/1"}, ADMIN).status == 400
    for ref in ("refs/heads/main", "refs/changes/1"):
        with_params = _post(api + "/project/org/project/enqueue",
                            {**main, "ref": ref, "parameters": {"x": "1"}}, ADMIN)
        assert with_params.status == 400 and with_params.json()["error"] == "bad_request"
    # freeze-pipeline (read access): the parameters a ref would take, none here.
    freeze = api + "/project/org/project/freeze-pipeline"
    answer = _post(freeze, main)
    assert answer.status == 200 and answer.json() == {"parameters": []}, answer.text
    assert _post(freeze, {"pipeline": "post"}).status == 400
    assert _post(freeze, {**main, "pipeline": "nope"}).status == 404
    assert _post(api + "/project/org/nope/freeze-pipeline", main).status == 404


def test_enqueue_dequeue_promote_autohold(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    scheduler = start_scheduler(stack, geard, github_api, tenant_file(stack.workdir))
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    api = apache.url + "/zuul/api/tenant/example"
    slow = api + "/project/org/slow"
    # Enqueue three changes into the gate, then promote the last one to the head.
    for number in (1, 2, 3):
        response = _post(slow + "/enqueue", {"pipeline": "gate",
                                             "change": f"{number},{str(number) * 40}"}, ADMIN)
        assert response.status == 200 and response.json() is True, response.text
    # As in Zuul: enqueueing a change already queued is accepted and adds nothing.
    again = _post(slow + "/enqueue", {"pipeline": "gate", "change": "1," + "1" * 40}, ADMIN)
    assert again.status == 200 and again.json() is True
    order = [i["refs"][0]["id"].split(",")[0] for i in items(status(scheduler.url), "gate")]
    assert order == ["1", "2", "3"]
    assert _post(api + "/promote", {"pipeline": "gate", "changes": ["3"]}, ADMIN).json()
    order = [i["refs"][0]["id"].split(",")[0] for i in items(status(scheduler.url), "gate")]
    assert order == ["3", "1", "2"]
    # Dequeue change 1: it leaves; builds were canceled.
    assert _post(slow + "/dequeue", {"pipeline": "gate", "change": "1"}, ADMIN).json()
    order = [i["refs"][0]["id"].split(",")[0] for i in items(status(scheduler.url), "gate")]
    assert order == ["3", "2"]
    assert _post(slow + "/dequeue", {"pipeline": "gate", "change": "1"}, ADMIN).status == 404
    wait_for(lambda: get(api + "/builds?change=1&result=CANCELED").json(), 20,
             what="dequeued build recorded as canceled")
    # A ref enqueued into post runs the noop job.
    ref = {"pipeline": "post", "ref": "refs/heads/main", "oldrev": "0" * 40,
           "newrev": "f" * 40}
    assert _post(api + "/project/org/project/enqueue", ref, ADMIN).json() is True
    wait_for(lambda: get(api + "/builds?pipeline=post").json(), 20, what="post build")
    post = get(api + "/builds?pipeline=post").json()[0]
    assert post["job_name"] == "noop" and post["result"] == "SUCCESS"
    assert post["ref"]["ref"] == "refs/heads/main" and post["ref"]["newrev"] == "f" * 40
    # Autohold requests: create (Zuul answers true), list, get, delete.
    hold = _post(slow + "/autohold", {"job": "slow", "change": "2", "reason": "debug",
                                      "count": 2, "node_hold_expiration": 3600}, ADMIN)
    assert hold.status == 200 and hold.json() is True, hold.text
    # zuul-client sends empty strings and null for what is unset.
    unset = _post(slow + "/autohold", {"job": "slow", "change": "", "ref": "",
                                       "reason": "any", "count": 1,
                                       "node_hold_expiration": None}, ADMIN)
    assert unset.status == 200, unset.text
    listed = request("GET", api + "/autohold").json()
    created = listed[0]
    assert created["ref_filter"] == "^refs/pull/2/head$" and created["max_count"] == 2
    assert listed[1]["ref_filter"] == ".*" and listed[1]["node_expiration"] == 0
    assert request("DELETE", f"{api}/autohold/{listed[1]['id']}", headers=ADMIN).status == 204
    one = request("GET", f"{api}/autohold/{created['id']}", headers=ADMIN).json()
    assert one["reason"] == "debug" and one["node_expiration"] == 3600
    assert request("DELETE", f"{api}/autohold/{created['id']}", headers=ADMIN).status == 204
    assert request("GET", f"{api}/autohold/{created['id']}", headers=ADMIN).status == 404


def test_reload_keeps_queued_items(stack: Stack, github_api: GitHubAPI) -> None:
    geard = stack.gearman()
    tenants = tenant_file(stack.workdir)
    scheduler = start_scheduler(stack, geard, github_api, tenants)
    events = Events(geard)
    try:
        events.send("pull_request", pr_body("org/slow", 4, "4" * 40))
        queued = items(status(scheduler.url), "check")
        assert [i["refs"][0]["id"] for i in queued] == [f"4,{'4' * 40}"]

        # A broken config is refused with a one-line error; the running config stays.
        tenants.write_text(tenants.read_text().replace("manager: dependent", "manager: nope"))
        bad = _post(scheduler.url + "/api/tenant/example/reconfigure", {}, ADMIN)
        assert bad.status == 400 and "tenants[0].pipelines[1].manager" in \
            bad.json()["description"]
        tenants.write_text(tenants.read_text().replace("manager: nope", "manager: dependent"))

        # Reload by SIGHUP with a new pipeline; the queued item is still there.
        edit_tenant(tenants, lambda d: d["tenants"][0]["pipelines"].append(
            {"name": "experimental", "manager": "independent"}))
        before = status(scheduler.url)["last_reconfigured"]
        os.kill(scheduler.pid, signal.SIGHUP)
        wait_for(lambda: "experimental" in [p["name"] for p in
                                            status(scheduler.url)["pipelines"]],
                 10, what="new pipeline after SIGHUP")
        doc = status(scheduler.url)
        assert doc["last_reconfigured"] > before
        assert [i["refs"][0]["id"] for i in items(doc, "check")] == [f"4,{'4' * 40}"]
        # And through the admin endpoint.
        assert _post(scheduler.url + "/api/tenant/example/reconfigure", {}, ADMIN).json()
        wait_for(lambda: get(scheduler.url + "/api/tenant/example/builds?change=4").json(),
                 30, what="the queued item finished after reloads")
        result = get(scheduler.url + "/api/tenant/example/builds?change=4").json()[0]
        assert result["result"] == "SUCCESS"
    finally:
        events.close()
