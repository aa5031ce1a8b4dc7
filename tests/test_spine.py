"""The spine end to end: real gearman, ZooKeeper, both services and Apache in front."""
from __future__ import annotations

from tests.harness.http import get, status_of
from tests.harness.process import wait_for
from tests.harness.stack import Stack


def _front(stack: Stack, scheduler_port: int, launcher_port: int):
    return stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler_port}"},
                        nodepool={"launcher": f"127.0.0.1:{launcher_port}"})


def test_info_through_apache(zk_stack: Stack) -> None:
    gearman = zk_stack.gearman()
    scheduler = zk_stack.scheduler(gearman, api={"public_url": "http://zuul.example/zuul/"})
    launcher = zk_stack.launcher()
    apache = _front(zk_stack, scheduler.port, launcher.port)

    zuul_info = get(apache.url + "/zuul/api/info")
    assert zuul_info.status == 200
    assert zuul_info.headers["Content-Type"].startswith("application/json")
    info = zuul_info.json()["info"]
    assert info["rest_api_url"] == "http://zuul.example/zuul/"
    assert info["capabilities"]["job_history"] is True
    assert zuul_info.headers["Access-Control-Allow-Origin"] == "*"

    nodepool_info = get(apache.url + "/nodepool/api/info")
    assert nodepool_info.status == 200
    assert nodepool_info.json()["info"]["zookeeper"]["connected"] is True

    # The same JSON straight from each service's own port.
    assert get(scheduler.url + "/api/info").json() == zuul_info.json()
    for service in (scheduler, launcher):
        metrics = get(service.url + "/metrics")
        assert metrics.status == 200
        assert "process_cpu_seconds_total" in metrics.text or "python_info" in metrics.text
        assert get(service.url + "/health/live").json() == {"status": "live"}


def test_unknown_path_is_json_404(stack: Stack) -> None:
    scheduler = stack.scheduler()
    response = get(scheduler.url + "/api/no-such-thing")
    assert response.status == 404
    assert response.json()["error"] == "not_found"
    assert "description" in response.json()


def test_scheduler_in_process_gearman_is_ready(stack: Stack) -> None:
    scheduler = stack.scheduler()
    wait_for(lambda: status_of(scheduler.url + "/health/ready") == 200, 10,
             what="scheduler ready with its own gearman server")


def test_scheduler_ready_follows_gearman(stack: Stack) -> None:
    gearman = stack.gearman()
    scheduler = stack.scheduler(gearman)
    ready = scheduler.url + "/health/ready"
    wait_for(lambda: status_of(ready) == 200, 10, what="ready with gearman up")

    gearman.stop()
    wait_for(lambda: status_of(ready, timeout=5) == 503, 15, what="503 with gearman down")
    body = get(ready).json()
    assert body["error"] == "not_ready" and gearman.address in body["description"]

    gearman.start()
    wait_for(lambda: status_of(ready) == 200, 20, what="ready again after gearman restart")


def test_launcher_ready_follows_zookeeper(zk_stack: Stack) -> None:
    launcher = zk_stack.launcher()
    ready = launcher.url + "/health/ready"
    wait_for(lambda: status_of(ready) == 200, 10, what="ready with ZooKeeper up")
    zookeeper = zk_stack.zookeeper
    assert zookeeper is not None
    zookeeper.stop()
    try:
        wait_for(lambda: status_of(ready) == 503, 15, what="503 with ZooKeeper down")
        assert "ZooKeeper" in get(ready).json()["description"]
    finally:
        zookeeper.start()
    wait_for(lambda: status_of(ready) == 200, 30, what="ready again after ZooKeeper restart")


def test_apache_answers_503_when_backend_down(stack: Stack) -> None:
    scheduler = stack.scheduler()
    apache = stack.apache(zuul={"scheduler": f"127.0.0.1:{scheduler.port}"})
    assert status_of(apache.url + "/zuul/api/info") == 200
    scheduler.stop()
    response = get(apache.url + "/zuul/api/info", timeout=10)
    assert response.status == 503
    scheduler.start()
    wait_for(lambda: status_of(apache.url + "/zuul/api/info") == 200, 10,
             what="Apache proxying again after the scheduler restarted")


def test_forwarded_headers_reach_backend(zk_stack: Stack) -> None:
    """Apache passes the client's Host and X-Forwarded-Proto/Prefix to the in-process APIs,
    so a service without a configured public URL reports the one the client used."""
    scheduler = zk_stack.scheduler()
    launcher = zk_stack.launcher()
    apache = _front(zk_stack, scheduler.port, launcher.port)
    host = {"Host": "zuul.example.org"}
    via_apache = get(apache.url + "/zuul/api/info", headers=host).json()["info"]
    assert via_apache["rest_api_url"] == "http://zuul.example.org/zuul/"
    nodepool = get(apache.url + "/nodepool/api/info", headers=host).json()["info"]
    assert nodepool["rest_api_url"] == "http://zuul.example.org/nodepool/"
    direct = get(scheduler.url + "/api/info").json()["info"]
    assert direct["rest_api_url"] == f"http://127.0.0.1:{scheduler.port}/"
