"""Admin subcommands (need ``--auth-token``): enqueue, enqueue-ref, dequeue, promote,
autohold, autohold-list, autohold-delete."""
from __future__ import annotations

import argparse
from typing import Any

from zuul.cli._client import call, common_arguments, run_command, table


def _done(what: str) -> Any:
    return lambda _data: what


def _holds(holds: Any) -> str:
    if not holds:
        return "No autohold requests."
    return table([[h["id"], h["project"], h["job"], h["ref_filter"],
                   f"{h['current_count']}/{h['max_count']}", h["reason"]] for h in holds],
                 ["ID", "PROJECT", "JOB", "REF FILTER", "COUNT", "REASON"])


def _enqueue(args: argparse.Namespace) -> Any:
    body = {"pipeline": args.pipeline}
    if args.change:
        body["change"] = args.change
    else:
        body.update(ref=args.ref, oldrev=args.oldrev or "0" * 40, newrev=args.newrev)
    return call(args, "POST", f"tenant/{args.tenant}/project/{args.project}/enqueue", body)


def _dequeue(args: argparse.Namespace) -> Any:
    body = {"pipeline": args.pipeline, **({"change": args.change} if args.change
                                          else {"ref": args.ref})}
    return call(args, "POST", f"tenant/{args.tenant}/project/{args.project}/dequeue", body)


def _promote(args: argparse.Namespace) -> Any:
    return call(args, "POST", f"tenant/{args.tenant}/promote",
                {"pipeline": args.pipeline, "changes": args.changes})


def _autohold(args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"job": args.job, "reason": args.reason, "count": args.count,
                            "node_hold_expiration": args.node_hold_expiration}
    if args.change:
        body["change"] = args.change
    if args.ref:
        body["ref"] = args.ref
    return call(args, "POST", f"tenant/{args.tenant}/project/{args.project}/autohold", body)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the admin subcommands."""
    p = subparsers.add_parser("enqueue", help="enqueue a change or a ref into a pipeline")
    common_arguments(p)
    p.add_argument("--pipeline", required=True)
    p.add_argument("--project", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--change", help="N or N,sha")
    target.add_argument("--ref", help="a ref such as refs/heads/main (with --newrev)")
    p.add_argument("--oldrev")
    p.add_argument("--newrev")
    p.set_defaults(func=run_command(_enqueue, _done("Enqueued.")))

    p = subparsers.add_parser("dequeue", help="remove a change or a ref from a pipeline")
    common_arguments(p)
    p.add_argument("--pipeline", required=True)
    p.add_argument("--project", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--change")
    target.add_argument("--ref")
    p.set_defaults(func=run_command(_dequeue, _done("Dequeued.")))

    p = subparsers.add_parser("promote", help="move changes to the head of their queue")
    common_arguments(p)
    p.add_argument("--pipeline", required=True)
    p.add_argument("--changes", nargs="+", required=True)
    p.set_defaults(func=run_command(_promote, _done("Promoted.")))

    p = subparsers.add_parser("autohold", help="hold the nodes of the next failing builds")
    common_arguments(p)
    p.add_argument("--project", required=True)
    p.add_argument("--job", required=True)
    p.add_argument("--change")
    p.add_argument("--ref")
    p.add_argument("--reason", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--node-hold-expiration", type=int, default=0)
    p.set_defaults(func=run_command(_autohold, lambda _ok: "Autohold request created."))

    p = subparsers.add_parser("autohold-list", help="list autohold requests")
    common_arguments(p)
    p.set_defaults(func=run_command(
        lambda a: call(a, "GET", f"tenant/{a.tenant}/autohold"), _holds))

    p = subparsers.add_parser("autohold-delete", help="delete an autohold request")
    common_arguments(p)
    p.add_argument("id")
    p.set_defaults(func=run_command(
        lambda a: call(a, "DELETE", f"tenant/{a.tenant}/autohold/{a.id}"),
        _done("Deleted.")))
