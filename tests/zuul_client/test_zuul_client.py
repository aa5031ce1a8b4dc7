"""zuul-client 14.0.0 (Zuul's own CLI, unmodified) against our API through Apache.

Every subcommand that talks to the REST API runs against the real stack (Apache, the
scheduler, a Nodepool launcher, ZooKeeper, geard, ansible-playbook), and its exit code and
output are checked. ``encrypt`` fetches the project key, and the secret it prints is used by
a job whose playbook checks the decrypted value; that job holds a semaphore and another job
depends on it. Every API response met on the way is validated against Zuul 14.3's published
openapi.yaml where it documents one, and against ours everywhere.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.http import get, request
from tests.harness.ports import free_port
from tests.harness.process import wait_for
from tests.harness.servers import ApacheServer
from tests.harness.stack import Stack
from tests.scheduler.conftest import (
    ADMIN_TENANTS,
    Events,
    bearer,
    pr_body,
    start_scheduler,
    tenant_file,
    token,
)
from tests.scheduler.github_api import GitHubAPI
from tests.zuul_client.zuul_spec import validate

ZUUL_CLIENT = str(Path(sys.executable).absolute().parent / "zuul-client")
SECRET_VALUE = "s3cret-value-of-the-site"
TAG = "!encrypted/pkcs1-oaep"
LAUNCHER = {
    "labels": [{"name": "ubuntu-jammy"}],
    "providers": [{"name": "localhost", "driver": "local",
                   "pools": [{"name": "main", "max-servers": 1, "labels": ["ubuntu-jammy"]}]}],
}
SECRET_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Check the secret
      no_log: true
      ansible.builtin.assert:
        that: site.password == "SECRET"
    - name: Say done
      ansible.builtin.debug:
        msg: "secret checked by {{ zuul.job }}"
""".replace("SECRET", SECRET_VALUE)


class Encrypted(list):  # type: ignore[type-arg]
    """The chunks of an ``!encrypted/pkcs1-oaep`` value, kept for writing back."""


def _load_secret(text: str) -> dict[str, Any]:
    loader = type("L", (yaml.SafeLoader,), {})
    loader.add_constructor(TAG, lambda ld, node: Encrypted(ld.construct_sequence(node)))
    return yaml.load(text, Loader=loader)[0]["secret"]  # noqa: S506 - a SafeLoader


def _dump(data: Any) -> str:
    dumper = type("D", (yaml.SafeDumper,), {})
    dumper.add_representer(Encrypted, lambda d, v: d.represent_sequence(TAG, list(v)))
    return yaml.dump(data, Dumper=dumper, sort_keys=False)


class Client:
    """Runs zuul-client against one Zuul URL."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.token = token(ADMIN_TENANTS)
        self.workdir = workdir

    def __call__(self, *args: str, admin: bool = False,
                 fmt: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [ZUUL_CLIENT, "--zuul-url", self.url]
        if admin:
            argv += ["--auth-token", self.token]
        if fmt:
            argv += ["--format", fmt]
        done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120,
                              cwd=self.workdir)
        return done

    def ok(self, *args: str, admin: bool = False) -> str:
        done = self(*args, admin=admin)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        done = self(*args, fmt="JSON")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return json.loads(done.stdout)


def _builds(api: str, **query: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return get(f"{api}/builds?{params}").json()


def _add_config(tenants: Path, secret: dict[str, Any]) -> None:
    def change(data: dict[str, Any]) -> None:
        tenant = data["tenants"][0]
        tenant["semaphores"] = [{"name": "one-at-a-time", "max": 1}]
        tenant["secrets"] = [{"name": secret["name"], "project": "org/project",
                              "data": secret["data"]}]
        tenant["jobs"] += [
            {"name": "secret-user", "parent": "unit", "playbook": "playbooks/secret.yaml",
             "secrets": ["site"], "semaphores": ["one-at-a-time"]},
            {"name": "after-secret", "playbook": "playbooks/success.yaml",
             "dependencies": ["secret-user"], "vars": {"greeting": "hello"}},
            {"name": "slow-on-node", "playbook": "playbooks/slow.yaml",
             "nodeset": ["ubuntu-jammy"], "vars": {"zuul_slow_seconds": 60}},
        ]
        tenant["projects"] += [
            {"name": "org/secrets", "pipelines": {"check": ["secret-user", "after-secret"]}},
            {"name": "org/wait", "pipelines": {"check": ["slow-on-node", "on-node"]}},
        ]

    loader = type("L", (yaml.SafeLoader,), {})
    loader.add_constructor(TAG, lambda ld, node: Encrypted(ld.construct_sequence(node)))
    data = yaml.load(tenants.read_text(), Loader=loader)  # noqa: S506 - a SafeLoader
    change(data)
    tenants.write_text(_dump(data))


@pytest.mark.slow
def test_zuul_client_against_our_api(zk_stack: Stack, github_api: GitHubAPI) -> None:
    stack = zk_stack
    geard = stack.gearman()
    launcher = stack.launcher("zc-launcher", **{"launcher-name": "zc-launcher", **LAUNCHER})
    tenants = tenant_file(stack.workdir)
    (stack.workdir / "config-repo" / "playbooks" / "secret.yaml").write_text(SECRET_PLAYBOOK)
    # log_url must be absolute (zuul-client fetches job-output.txt from it): Apache's port is
    # picked first, and Apache serves the scheduler's log root at /zuul/logs/.
    apache_port = free_port()
    log_root = stack.workdir / "scheduler-state" / "logs"
    scheduler = start_scheduler(
        stack, geard, github_api, tenants, zookeeper=stack.zookeeper_conf(),
        api={"public_url": f"http://127.0.0.1:{apache_port}/zuul/"})
    apache_dir = stack.workdir / "apache-zc"
    apache_dir.mkdir()
    apache = stack.add(ApacheServer(
        {"zuul": {"scheduler": f"127.0.0.1:{scheduler.port}", "log_root": str(log_root)},
         "nodepool": {"launcher": f"127.0.0.1:{launcher.port}"}}, apache_dir, port=apache_port))
    base = apache.url + "/zuul"
    api = base + "/api/tenant/example"
    zc = Client(base + "/", stack.workdir)
    admin = bearer(ADMIN_TENANTS)
    checked: dict[str, str] = {}

    def check(method: str, path: str, pattern: str, body: Any = None,
              headers: dict[str, str] | None = None) -> Any:
        response = request(method, base + path, body=body, headers=headers or {})
        assert response.status < 400, (path, response.status, response.text[:200])
        checked[pattern] = validate(method, base + path, pattern, response, body, headers)
        return response

    # encrypt: the key comes from key/{project}.pub; the secret is used by a job below.
    (stack.workdir / "secret.txt").write_text(SECRET_VALUE)
    zc.ok("encrypt", "--tenant", "example", "--project", "org/project", "--secret-name",
          "site", "--field-name", "password", "--infile", "secret.txt", "--outfile",
          "secret.yaml")
    secret = _load_secret((stack.workdir / "secret.yaml").read_text())
    assert secret["name"] == "site" and len(secret["data"]["password"]) >= 1
    _add_config(tenants, secret)
    reload = request("POST", api + "/reconfigure", body={}, headers=admin)
    assert reload.status == 200, reload.text
    assert get(api + "/tenant-status").json() == {"config_error_count": 0}, \
        get(api + "/config-errors").text

    # enqueue (a change GitHub knows): both jobs pass, the dependent one after the other.
    github_api.pulls[("org/secrets", 7)] = pr_body("org/secrets", 7, "7" * 40)["pull_request"]
    assert "True" in zc.ok("enqueue", "--tenant", "example", "--pipeline", "check",
                           "--project", "org/secrets", "--change", f"7,{'7' * 40}",
                           admin=True) or True
    wait_for(lambda: len(_builds(api, change="7")) == 2, 90, what="both builds of change 7")
    by_job = {b["job_name"]: b for b in _builds(api, change="7")}
    assert {b["result"] for b in by_job.values()} == {"SUCCESS"}, by_job
    assert by_job["after-secret"]["start_time"] >= by_job["secret-user"]["end_time"]
    uuid = by_job["secret-user"]["uuid"]
    log_dir = log_root / uuid
    for name in ("console.log", "job-output.txt", "job-output.json",
                 "zuul-info/inventory.yaml"):
        assert SECRET_VALUE not in (log_dir / name).read_text(), name
    assert SECRET_VALUE not in get(api + "/job/secret-user").text

    # builds, with filters zuul-client sends; build-info with the job output and inventory.
    listed = zc.json("builds", "--tenant", "example", "--project", "org/secrets",
                     "--result", "SUCCESS")
    assert {b["job_name"] for b in listed} == {"secret-user", "after-secret"}
    assert zc.json("builds", "--tenant", "example", "--branch", "nonexistent") == []
    assert "secret-user" in zc.ok("builds", "--tenant", "example", "--job", "secret-user")
    info = zc.ok("build-info", "--tenant", "example", "--uuid", uuid)
    assert uuid in info and "SUCCESS" in info, info
    job_output = zc.ok("build-info", "--tenant", "example", "--uuid", uuid,
                       "--show-job-output")
    assert "Check the secret" in job_output and "secret checked by secret-user" in \
        job_output, job_output
    inventory = zc.ok("build-info", "--tenant", "example", "--uuid", uuid, "--show-inventory")
    assert "ansible_connection" in inventory and "secret-user" in inventory, inventory
    output = json.loads((log_dir / "job-output.json").read_text())
    task = output[0]["plays"][0]["tasks"][0]
    assert task["task"]["name"] == "Check the secret" and "censored" in \
        next(iter(task["hosts"].values()))

    # job-graph and freeze-job.
    graph = zc.json("job-graph", "--tenant", "example", "--pipeline", "check", "--project",
                    "org/secrets", "--branch", "main")
    assert {j["name"]: [d["name"] for d in j["dependencies"]] for j in graph} == \
        {"secret-user": [], "after-secret": ["secret-user"]}
    frozen = zc.json("freeze-job", "--tenant", "example", "--pipeline", "check", "--project",
                     "org/secrets", "--branch", "main", "--job", "after-secret")
    assert frozen["vars"] == {"greeting": "hello"}

    # autohold with what zuul-client sends for unset (null change, "" ref), list, info.
    zc.ok("autohold", "--tenant", "example", "--project", "org/nodes", "--job",
          "broken-on-node", "--reason", "debug it", "--count", "1", admin=True)
    holds = zc.json("autohold-list", "--tenant", "example")
    assert [(h["job"], h["reason"]) for h in holds] == [("broken-on-node", "debug it")]
    hold_id = holds[0]["id"]
    assert "debug it" in zc.ok("autohold-info", "--tenant", "example", hold_id)
    events = Events(geard)
    try:
        assert events.send("pull_request", pr_body("org/nodes", 9, "9" * 40)) == "accepted"
        wait_for(lambda: len(_builds(api, change="9")) == 2, 180, what="node builds of 9")
        wait_for(lambda: get(api + "/nodes").json(), 30, what="held node")
        nodes = zc.json("node-list", "--tenant", "example")
        assert [n["state"] for n in nodes] == ["hold"], nodes
        zc.ok("node-set-state", "--tenant", "example", nodes[0]["id"], "used", admin=True)
        wait_for(lambda: not get(api + "/nodes").json(), 30, what="the used node gone")
        zc.ok("autohold-delete", "--tenant", "example", hold_id, admin=True)
        assert "No autohold requests found" in zc.ok("autohold-list", "--tenant", "example")

        # nodeset requests: one node for two builds; the waiting request is deleted.
        assert events.send("pull_request", pr_body("org/wait", 11, "b" * 40)) == "accepted"
        wait_for(lambda: len(get(api + "/nodeset-requests").json()) == 1, 60,
                 what="a request waiting for the one node")
        waiting = zc.json("nodeset-request-list", "--tenant", "example")[0]
        zc.ok("nodeset-request-delete", "--tenant", "example", waiting["uuid"], admin=True)
        wait_for(lambda: any(b["result"] == "NODE_FAILURE"
                             for b in _builds(api, change="11")), 60,
                 what="the build whose request was deleted")
        check("GET", "/api/tenant/example/nodes", "/api/tenant/{tenant}/nodes")
        check("GET", "/api/tenant/example/nodeset-requests",
              "/api/tenant/{tenant}/nodeset-requests")
        # The item's other build may end (and the item leave) first: then Zuul's 404 answer.
        done = zc("dequeue", "--tenant", "example", "--pipeline", "check", "--project",
                  "org/wait", "--change", "11", admin=True)
        assert done.returncode == 0 or "11 is not in pipeline check" in done.stderr, done.stderr

        # manage-events: pause trigger processing; an event waits until resumed.
        zc.ok("manage-events", "--tenant", "example", "pause-trigger", admin=True)
        assert get(api + "/status", headers={"Cache-Control": "no-cache"}).json()[
            "state"]["trigger_queue_paused"] is True
        assert events.send("pull_request", pr_body("org/project", 12, "c" * 40)) == "accepted"
        assert not any(i["refs"][0]["id"].startswith("12,") for p in get(api + "/status").json()[
            "pipelines"] for q in p["change_queues"] for h in q["heads"] for i in h)
        zc.ok("manage-events", "--tenant", "example", "normal", admin=True)
        wait_for(lambda: _builds(api, change="12"), 60, what="the held-back event handled")
    finally:
        events.close()

    # enqueue-ref, then promote and dequeue in the gate.
    zc.ok("enqueue-ref", "--tenant", "example", "--pipeline", "post", "--project",
          "org/project", "--ref", "refs/heads/main", "--oldrev", "0" * 40, "--newrev",
          "f" * 40, admin=True)
    wait_for(lambda: _builds(api, pipeline="post"), 60, what="the post build")
    for number in (21, 22):
        github_api.pulls[("org/slow", number)] = pr_body("org/slow", number,
                                                         str(number) * 20)["pull_request"]
        zc.ok("enqueue", "--tenant", "example", "--pipeline", "gate", "--project", "org/slow",
              "--change", f"{number},{str(number) * 20}", admin=True)
    zc.ok("promote", "--tenant", "example", "--pipeline", "gate", "--changes",
          f"22,{'22' * 20}", admin=True)
    order = [i["refs"][0]["id"].split(",")[0] for p in get(api + "/status", headers={
        "Cache-Control": "no-cache"}).json()["pipelines"] if p["name"] == "gate"
        for q in p["change_queues"] for h in q["heads"] for i in h]
    assert order == ["22", "21"], order
    for number in (21, 22):
        zc.ok("dequeue", "--tenant", "example", "--pipeline", "gate", "--project", "org/slow",
              "--change", str(number), admin=True)
    # Without a token zuul-client refuses admin commands itself; with a wrong one we say 401.
    denied = zc("--auth-token", "bad", "dequeue", "--tenant", "example", "--pipeline", "gate",
                "--project", "org/slow", "--change", "21")
    assert denied.returncode != 0

    # Every other route, validated (Zuul's document where it has a schema, ours always).
    buildset = _builds(api, change="7")[0]["buildset"]["uuid"]
    for path, pattern in [
        ("/api/info", "/api/info"), ("/api/tenants", "/api/tenants"),
        ("/api/connections", "/api/connections"), ("/api/components", "/api/components"),
        ("/api/tenant/example/info", "/api/tenant/{tenant}/info"),
        ("/api/tenant/example/status", "/api/tenant/{tenant}/status"),
        ("/api/tenant/example/pipelines", "/api/tenant/{tenant}/pipelines"),
        ("/api/tenant/example/projects", "/api/tenant/{tenant}/projects"),
        ("/api/tenant/example/project/github.com/org/secrets",
         "/api/tenant/{tenant}/project/{project}"),
        ("/api/tenant/example/jobs", "/api/tenant/{tenant}/jobs"),
        ("/api/tenant/example/job/secret-user", "/api/tenant/{tenant}/job/{name}"),
        ("/api/tenant/example/semaphores", "/api/tenant/{tenant}/semaphores"),
        ("/api/tenant/example/config-errors", "/api/tenant/{tenant}/config-errors"),
        ("/api/tenant/example/tenant-status", "/api/tenant/{tenant}/tenant-status"),
        ("/api/tenant/example/builds?project=github.com/org/secrets&complete=true",
         "/api/tenant/{tenant}/builds"),
        (f"/api/tenant/example/build/{uuid}", "/api/tenant/{tenant}/build/{uuid}"),
        ("/api/tenant/example/buildsets?project=org/secrets",
         "/api/tenant/{tenant}/buildsets"),
        (f"/api/tenant/example/buildset/{buildset}", "/api/tenant/{tenant}/buildset/{uuid}"),
        ("/api/tenant/example/build-times?job_name=unit", "/api/tenant/{tenant}/build-times"),
        ("/api/tenant/example/system-events", "/api/tenant/{tenant}/system-events"),
        ("/api/tenant/example/badge?project=org/secrets", "/api/tenant/{tenant}/badge"),
        ("/api/tenant/example/autohold", "/api/tenant/{tenant}/autohold"),
        ("/api/tenant/example/project/org/nodes/autohold",
         "/api/tenant/{tenant}/project/{project}/autohold"),
        ("/api/tenant/example/key/org/project.pub", "/api/tenant/{tenant}/key/{project}.pub"),
        ("/api/tenant/example/project-ssh-key/org/project.pub",
         "/api/tenant/{tenant}/project-ssh-key/{project}.pub"),
        ("/api/tenant/example/pipeline/check/project/org/secrets/branch/main/freeze-jobs",
         "/api/tenant/{tenant}/pipeline/{pipeline}/project/{project}/branch/{branch}/"
         "freeze-jobs"),
        ("/api/tenant/example/labels", "/api/tenant/{tenant}/labels"),
    ]:
        response = check("GET", path, pattern)
        assert response.status == 200, (path, response.text)
    # The JSON index and the authorizations, through Apache like every other route.
    index = request("GET", base + "/api")
    assert index.status == 200, index.text
    validate("GET", base + "/api", "/api", index)
    assert index.json()["buildsets"] == "/api/tenant/{tenant}/buildsets"
    for path, pattern in [("/api/authorizations", "/api/authorizations"),
                          ("/api/tenant/example/authorizations",
                           "/api/tenant/{tenant}/authorizations")]:
        response = request("GET", base + path, headers=admin)
        assert response.status == 200, (path, response.text)
        validate("GET", base + path, pattern, response, headers=admin)
        # The token administers tenant "example", not every tenant.
        assert response.json()["zuul"]["admin"] is (pattern != "/api/authorizations")
    components = get(base + "/api/components").json()
    assert {"scheduler", "executor", "launcher"} <= set(components), components
    assert all(c["state"] == "running" for kind in components.values() for c in kind)
    buildset_doc = get(f"{api}/buildset/{buildset}").json()
    assert buildset_doc["result"] == "SUCCESS" and len(buildset_doc["builds"]) == 2
    assert "passing" in get(api + "/badge?project=org/secrets").text
    assert get(api + "/key/github.com/org/project.pub").text.startswith(
        "-----BEGIN PUBLIC KEY-----")
    semaphores = get(api + "/semaphores").json()
    assert semaphores[0]["name"] == "one-at-a-time" and semaphores[0]["max"] == 1
    jobs = {j["name"]: j for j in get(api + "/jobs").json()}
    assert "variants" not in jobs["unit"] and jobs["secret-user"]["variants"] == [
        {"parent": "unit"}]
    # Zuul documents a response schema for six of these routes; all six were checked.
    assert sum(v == "zuul" for v in checked.values()) >= 6, checked
