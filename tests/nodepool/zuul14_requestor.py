"""Run by ``.venv-ext/zuul/bin/python`` (real Zuul 14), never imported by our tests.

Uses Zuul 14's own ZooKeeper code for Nodepool (``zuul.zk.nodepool.ZooKeeperNodepool``,
``zuul.model.NodeRequest``) the way Zuul's scheduler does: submit a request, wait for it to
be fulfilled, lock the nodes, mark them in-use, delete the request, then return the nodes as
used and unlock them. Prints one JSON document with what it saw.

Usage: python zuul14_requestor.py HOSTS CERT KEY CA LABEL[,LABEL...] [TIMEOUT]
"""
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from zuul.model import STATE_IN_USE, STATE_USED, Node, NodeRequest
from zuul.zk import ZooKeeperClient
from zuul.zk.nodepool import ZooKeeperNodepool


def main() -> None:
    # As Zuul's services do (zuul.lib.tracing): a real tracer provider, so the spans Zuul's
    # request code saves are recording ones.
    trace.set_tracer_provider(TracerProvider())
    hosts, cert, key, ca, labels = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
    client = ZooKeeperClient(hosts, tls_cert=cert, tls_key=key, tls_ca=ca, timeout=10)
    client.connect()
    zk = ZooKeeperNodepool(client)
    try:
        launchers = [{"id": launcher.id, "supported_labels": sorted(launcher.supported_labels)}
                     for launcher in zk.getRegisteredLaunchers()]
        request = NodeRequest("zuul14-test", "buildset-1", "example", "check", "job-uuid-1",
                              "on-node", labels.split(","), None, 0, event_id="event-1")
        began = time.monotonic()
        zk.submitNodeRequest(request, 100)
        found = None
        while time.monotonic() - began < timeout:
            found = zk.getNodeRequest(request.id)
            if found is not None and found.state in ("fulfilled", "failed"):
                break
            time.sleep(0.05)
        result = {"launchers": launchers, "request_id": request.id,
                  "state": found.state if found else None,
                  "fulfilled_seconds": time.monotonic() - began, "nodes": []}
        if found is None or found.state != "fulfilled":
            zk.deleteNodeRequest(request.id)
            print(json.dumps(result))
            return
        taken = []
        for node_id in found.nodes:
            # As zuul.nodepool.Nodepool._lockNodes: read into a Node, then lock it.
            node = Node(None, None)
            zk.updateNode(node, node_id)
            zk.lockNode(node, timeout=30)
            result["nodes"].append({"id": node_id, "allocated_to": node.allocated_to,
                                    "type": node.type, "state": node.state,
                                    "interface_ip": node.interface_ip,
                                    "connection_type": node.connection_type,
                                    "connection_port": node.connection_port})
            node.state = STATE_IN_USE
            zk.storeNode(node)
            taken.append(node)
        zk.deleteNodeRequest(request.id)
        for node in taken:
            node.state = STATE_USED
            zk.storeNode(node)
            zk.unlockNode(node)
        print(json.dumps(result))
    finally:
        client.disconnect()


if __name__ == "__main__":
    main()
