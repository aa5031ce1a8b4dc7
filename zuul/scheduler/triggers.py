"""Matching GitHub webhook events to pipeline triggers and the changes they are about."""
from __future__ import annotations

from typing import Any

from zuul.scheduler.events import TriggerEvent
from zuul.scheduler.model import Change, TriggerRule


def _dig(body: dict[str, Any], *keys: str) -> Any:
    value: Any = body
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def event_project(event: TriggerEvent) -> str | None:
    """The ``owner/name`` of the repository the event is about."""
    name = _dig(event.body, "repository", "full_name")
    return name if isinstance(name, str) else None


def change_from_pull_request(connection: str, project: str, pr: dict[str, Any]) -> Change:
    """The change a pull request object (as in GitHub's payloads and REST API) describes."""
    number = int(pr["number"])
    return Change(project=project, connection=connection, ref=f"refs/pull/{number}/head",
                  newrev=str(_dig(pr, "head", "sha") or ""), number=number,
                  branch=str(_dig(pr, "base", "ref") or ""),
                  url=str(pr.get("html_url") or ""), title=str(pr.get("title") or ""),
                  body=str(pr.get("body") or ""))


def event_change(event: TriggerEvent, known: dict[tuple[str, int], Change]) -> Change | None:
    """The change or ref an event is about, or None when it cannot be told.

    ``known`` maps ``(project, number)`` to the newest change seen for a pull request, which
    is how an ``issue_comment`` (whose payload lacks the head sha) finds its change.
    """
    project = event_project(event)
    if project is None:
        return None
    body = event.body
    if event.event in ("pull_request", "pull_request_review"):
        pr = body.get("pull_request")
        if not isinstance(pr, dict) or "number" not in pr:
            return None
        return change_from_pull_request(event.connection, project, pr)
    if event.event == "issue_comment":
        if _dig(body, "issue", "pull_request") is None:
            return None
        number = _dig(body, "issue", "number")
        return known.get((project, int(number))) if isinstance(number, int) else None
    if event.event == "push":
        ref = body.get("ref")
        if not isinstance(ref, str) or body.get("deleted"):
            return None
        branch = ref.removeprefix("refs/heads/")
        return Change(project=project, connection=event.connection, ref=ref,
                      newrev=str(body.get("after") or ""), oldrev=str(body.get("before") or ""),
                      branch=branch, url=str(body.get("compare") or ""))
    return None


def rule_matches(rule: TriggerRule, event: TriggerEvent) -> bool:
    """True when ``event`` satisfies the trigger ``rule``."""
    if rule.connection != event.connection or rule.event != event.event:
        return False
    if rule.actions and event.action not in rule.actions:
        return False
    if rule.comment is not None:
        comment = _dig(event.body, "comment", "body")
        if not isinstance(comment, str) or not rule.comment.search(comment):
            return False
    if rule.state:
        state = _dig(event.body, "review", "state")
        if not isinstance(state, str) or state.lower() not in [s.lower() for s in rule.state]:
            return False
    if rule.refs:
        ref = event.body.get("ref")
        if not isinstance(ref, str) or not any(r.search(ref) for r in rule.refs):
            return False
    return True
