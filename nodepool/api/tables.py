"""The rows and columns of Nodepool's classic list commands, and their plain-text tables.

Column keys follow Nodepool's (``nodepool list``, ``/node-list`` and friends); each has the
heading Nodepool prints. JSON rows use the keys; ``age`` is seconds in JSON and
``dd:hh:mm:ss`` in text, as Nodepool shows it.
"""
from __future__ import annotations

import time
from typing import Any

from nodepool.zk import NodepoolStore, NodeRecord, RequestRecord, label_summary

NODE_COLUMNS = {
    "id": "ID", "provider": "Provider", "label": "Label", "server_id": "Server ID",
    "public_ipv4": "Public IPv4", "ipv6": "IPv6", "state": "State", "age": "Age",
    "locked": "Locked", "pool": "Pool", "hostname": "Hostname",
    "private_ipv4": "Private IPv4", "AZ": "AZ", "connection_port": "Port",
    "launcher": "Launcher", "allocated_to": "Allocated To", "hold_job": "Hold Job",
    "comment": "Comment",
}
REQUEST_COLUMNS = {
    "id": "Request ID", "relative_priority": "Priority", "state": "State",
    "requestor": "Requestor", "node_types": "Node Types", "nodes": "Nodes",
    "declined_by": "Declined By",
}
LABEL_COLUMNS = {
    "label": "Label", "min_ready": "Min Ready", "ready": "Ready", "in_use": "In Use",
    "total": "Total",
}
IMAGE_COLUMNS = {
    "id": "ID", "provider": "Provider", "image": "Image", "external_name": "Provider Image Name",
    "external_id": "Provider Image ID", "state": "State", "age": "Age",
}
DIB_IMAGE_COLUMNS = {
    "id": "ID", "image": "Image", "builder": "Builder", "formats": "Formats", "state": "State",
    "age": "Age",
}


def node_row(node: NodeRecord, locked: bool, now: float) -> dict[str, Any]:
    """A ``/node-list`` row for one node."""
    return {
        "id": node.id, "provider": node.provider, "label": node.label,
        "server_id": node.static_slot or node.id, "public_ipv4": node.public_ipv4 or None,
        "ipv6": node.public_ipv6 or None, "state": node.state,
        "age": int(now - node.state_time), "locked": "locked" if locked else "unlocked",
        "pool": node.pool, "hostname": node.hostname, "private_ipv4": node.private_ipv4 or None,
        "AZ": None, "connection_port": node.connection_port, "launcher": node.launcher,
        "allocated_to": node.allocated_to, "hold_job": node.hold_job, "comment": node.comment,
    }


def request_row(request: RequestRecord) -> dict[str, Any]:
    """A ``/request-list`` row for one request."""
    return {
        "id": request.id, "priority": request.priority,
        "relative_priority": request.relative_priority, "state": request.state,
        "requestor": request.requestor, "node_types": request.node_types,
        "nodes": request.nodes, "declined_by": request.declined_by,
    }


def node_rows(store: NodepoolStore, node_id: str | None = None) -> list[dict[str, Any]]:
    """Rows for every node (or just ``node_id``)."""
    now = time.time()
    if node_id is not None:
        node = store.get_node(node_id)
        nodes = [node] if node is not None else []
    else:
        nodes = store.nodes()
    return [node_row(n, store.node_locked(n.id), now) for n in nodes]


def label_rows(store: NodepoolStore) -> list[dict[str, Any]]:
    """Rows for ``/label-list``."""
    return [{"label": lbl["name"], **{k: lbl[k] for k in ("min_ready", "ready", "in_use",
                                                           "total")}}
            for lbl in label_summary(store)]


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "age" and isinstance(value, int):
        days, rest = divmod(value, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{days:02d}:{hours:02d}:{minutes:02d}:{seconds:02d}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def render_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> str:
    """A plain-text table like Nodepool's (PrettyTable style) with the given columns."""
    headings = list(columns.values())
    cells = [[_cell(key, row.get(key)) for key in columns] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headings)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([rule, line(headings), rule, *(line(r) for r in cells), rule]) + "\n"


def pick_columns(columns: dict[str, str], fields: str | None) -> dict[str, str]:
    """The columns named in ``?fields=a,b`` (all when absent); ValueError on unknown ones."""
    if not fields:
        return columns
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in columns]
    if unknown or not wanted:
        raise ValueError(f"unknown field(s) {', '.join(unknown) or '(none given)'}; "
                         f"known: {', '.join(columns)}")
    return {f: columns[f] for f in wanted}
