"""A local stand-in of GitHub (aiohttp on loopback, in a thread): REST API and git repos.

Every request is checked against GitHub's published REST API description (the operations
extracted into ``tests/gating/github_openapi/operations.json``): the method and path must be a
real GitHub operation and the JSON body must validate against that operation's request body
schema. Anything else is answered 404/422 and recorded in :attr:`GitHubAPI.violations`, which
the fixtures assert empty at teardown, so an invalid call fails the test.

It answers pull request reads (from :attr:`GitHubAPI.pulls`), commit statuses, issue comments,
check runs, merges (a real ``git`` merge into the bare repository, refused with 405/409 like
GitHub when told to or when the head moved) and GitHub App authentication (installation
lookup with the App's RS256 JWT, installation tokens with a configurable lifetime).

Repositories live on disk as bare git repositories (:class:`GitRepos`); their ``file://``
URLs are the projects' ``git_url`` in the tenant config, so mergers fetch real refs
(``refs/heads/*``, ``refs/pull/<n>/head``).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from openapi_schema_validator import OAS30Validator

from tests.harness.app_thread import AppThread
from tests.harness.ports import free_port

BODY = web.RequestKey("body", object)
OPERATIONS = Path(__file__).resolve().parent.parent / "gating" / "github_openapi" / \
    "operations.json"
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.invalid",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"}


def _git(args: list[str], cwd: Path, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True,
                          text=True, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


class GitRepos:
    """Bare repositories ``<root>/<owner>/<repo>.git`` with a ``main`` branch and PR refs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def path(self, project: str) -> Path:
        return self.root / f"{project}.git"

    def url(self, project: str) -> str:
        return f"file://{self.path(project)}"

    def create(self, project: str, files: dict[str, str] | None = None) -> str:
        """A new repository whose ``main`` has one commit with ``files``; its sha."""
        bare = self.path(project)
        bare.parent.mkdir(parents=True, exist_ok=True)
        _git(["init", "--quiet", "--bare", "--initial-branch=main", str(bare)], self.root)
        return self.commit(project, "main", files or {"README": f"{project}\n"},
                           "Initial commit", ref="refs/heads/main", parent=None)

    def commit(self, project: str, base: str, files: dict[str, str], message: str,
               ref: str, parent: str | None = "") -> str:
        """Commit ``files`` on top of ``base`` (a branch or sha) and point ``ref`` at it."""
        with self._lock, tempfile.TemporaryDirectory(dir=self.root) as tmp:
            work = Path(tmp)
            _git(["init", "--quiet"], work)
            if parent is not None:
                _git(["fetch", "--quiet", str(self.path(project)), base], work)
                _git(["checkout", "--quiet", "FETCH_HEAD"], work)
            for name, text in files.items():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(text)
            _git(["add", "-A"], work)
            _git(["commit", "--quiet", "--allow-empty", "-m", message], work)
            _git(["push", "--quiet", "--force", str(self.path(project)), f"HEAD:{ref}"], work)
            return _git(["rev-parse", "HEAD"], work)

    def tip(self, project: str, branch: str = "main") -> str:
        return _git(["rev-parse", f"refs/heads/{branch}"], self.path(project))

    def resolve(self, project: str, ref: str) -> str | None:
        """The commit ``ref`` names, or None when the repository has no such ref."""
        sha = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                   self.path(project), check=False)
        return sha or None

    def files(self, project: str, branch: str = "main") -> list[str]:
        return _git(["ls-tree", "--name-only", "-r", f"refs/heads/{branch}"],
                    self.path(project)).splitlines()

    def merge(self, project: str, branch: str, number: int, head: str, method: str,
              title: str) -> str:
        """Merge PR ``number`` (at ``head``) into ``branch`` as GitHub's ``merge_method``."""
        bare = str(self.path(project))
        with self._lock, tempfile.TemporaryDirectory(dir=self.root) as tmp:
            work = Path(tmp)
            _git(["init", "--quiet"], work)
            _git(["fetch", "--quiet", bare, f"refs/pull/{number}/head"], work)
            if _git(["rev-parse", "FETCH_HEAD"], work) != head:
                raise RuntimeError("head moved")
            _git(["fetch", "--quiet", bare, f"refs/heads/{branch}"], work)
            tip = _git(["rev-parse", "FETCH_HEAD"], work)
            _git(["checkout", "--quiet", "--detach", tip], work)
            if method == "squash":
                _git(["merge", "--quiet", "--squash", head], work)
                _git(["commit", "--quiet", "--allow-empty", "-m", title], work)
            elif method == "rebase":
                _git(["checkout", "--quiet", "--detach", head], work)
                _git(["rebase", "--quiet", tip], work)
            else:
                _git(["merge", "--quiet", "--no-ff", "-m", title, head], work)
            _git(["push", "--quiet", bare, f"HEAD:refs/heads/{branch}"], work)
            return _git(["rev-parse", "HEAD"], work)


class GitHubAPI:
    """GitHub's REST API for the operations in ``operations.json``, checked and recorded."""

    def __init__(self, root: Path | None = None, token_ttl: float = 3600.0) -> None:
        self.port = free_port()
        self.calls: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.refuse_merge: dict[tuple[str, int], tuple[int, str]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.repos = GitRepos(root) if root is not None else None
        # GitHub App: the App's public key (PEM), its id, token lifetime and issued tokens.
        self.app_id: int | None = None
        self.app_public_key: str | None = None
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        self._ids = itertools.count(1)
        # While True, comment requests are recorded but not answered (a slow GitHub), for
        # at most a minute: lets a test kill the scheduler between sending and its answer.
        self.hold_comments = False
        self._operations = self._load_operations()
        self._server = AppThread(self.port)

    @staticmethod
    def _load_operations() -> list[tuple[str, re.Pattern[str], str, Any, bool]]:
        document = json.loads(OPERATIONS.read_text())
        operations = []
        for op in document["operations"]:
            pattern = re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", op["path"]) + "$")
            operations.append((op["method"], pattern, op["operationId"],
                               op["requestBodySchema"], op["requestBodyRequired"]))
        return operations

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Checking requests against GitHub's description ---------------------------------------

    def _violation(self, text: str) -> web.Response:
        self.violations.append(text)
        return web.json_response({"message": text}, status=422)

    async def _check_request(self, request: web.Request) -> tuple[str | None, Any, str]:
        """(operationId or None, body, problem): matched against the described operations."""
        text = await request.text()
        body: Any = None
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                return None, None, f"{request.method} {request.path}: body is not JSON"
        for method, pattern, operation_id, schema, required in self._operations:
            if method != request.method or not pattern.match(request.path):
                continue
            if body is None:
                return (operation_id, body, f"{operation_id}: request body required"
                        if required else "")
            if schema is None:
                return operation_id, body, f"{operation_id}: takes no request body"
            errors = sorted(OAS30Validator(schema).iter_errors(body), key=str)
            if errors:
                where = "/".join(str(p) for p in errors[0].absolute_path)
                return (operation_id, body,
                        f"{operation_id}: body invalid at '{where}': {errors[0].message}")
            return operation_id, body, ""
        return None, body, f"{request.method} {request.path} is not a GitHub REST operation"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        operation, body, problem = await self._check_request(request)
        if problem:
            if operation is None:
                self.violations.append(problem)
                return web.json_response({"message": "Not Found"}, status=404)
            return self._violation(problem)
        auth = request.headers.get("Authorization")
        call = {"method": request.method, "path": request.path, "body": body, "auth": auth,
                "operation": operation, "time": time.time()}
        self.calls.append(call)
        denied = self._authenticate(operation or "", auth)
        if denied:
            return web.json_response({"message": denied}, status=401)
        request[BODY] = body
        return await handler(request)

    def _authenticate(self, operation: str, auth: str | None) -> str:
        """Why the call is unauthenticated ('' when fine). Only enforced for an App."""
        if self.app_public_key is None:
            return ""
        scheme, _, credential = (auth or "").partition(" ")
        if operation in ("apps/get-repo-installation", "apps/create-installation-access-token"):
            if scheme != "Bearer":
                return "A JSON web token could not be decoded"
            try:
                claims = jwt.decode(credential, self.app_public_key, algorithms=["RS256"])
            except jwt.PyJWTError as exc:
                return f"A JSON web token could not be decoded: {exc}"
            return "" if str(claims.get("iss")) == str(self.app_id) else "wrong issuer"
        expires = self.tokens.get(credential) if scheme == "token" else None
        if expires is None:
            return "Bad credentials"
        return "" if expires > time.time() else "Bad credentials (token expired)"

    # Handlers -------------------------------------------------------------------------------

    @staticmethod
    def _key(request: web.Request, name: str) -> tuple[str, int]:
        return (f"{request.match_info['owner']}/{request.match_info['repo']}",
                int(request.match_info[name]))

    async def _created(self, request: web.Request) -> web.Response:
        return web.json_response({"id": next(self._ids)}, status=201)

    async def _comment(self, request: web.Request) -> web.Response:
        deadline = time.monotonic() + 60
        while self.hold_comments and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return await self._created(request)

    async def _pull(self, request: web.Request) -> web.Response:
        key = self._key(request, "number")
        if key not in self.pulls:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(self.pulls[key])

    async def _merge(self, request: web.Request) -> web.Response:
        key = self._key(request, "number")
        pull = self.pulls.get(key)
        body = request[BODY] or {}
        if pull is None:
            return web.json_response({"message": "Not Found"}, status=404)
        if key in self.refuse_merge:
            status, message = self.refuse_merge[key]
            return web.json_response({"message": message}, status=status)
        if pull.get("merged"):
            return web.json_response({"message": "Pull Request is not mergeable"}, status=405)
        if body.get("sha") and body["sha"] != pull["head"]["sha"]:
            return web.json_response({"message": "Head branch was modified. Review and try "
                                      "the merge again."}, status=409)
        sha = pull["head"]["sha"]
        if self.repos is not None and self.repos.path(key[0]).exists():
            try:
                sha = await asyncio.to_thread(
                    self.repos.merge, key[0], pull["base"]["ref"], key[1], pull["head"]["sha"],
                    body.get("merge_method", "merge"), body.get("commit_title") or "Merge")
            except RuntimeError:
                return web.json_response({"message": "Pull Request is not mergeable"},
                                         status=405)
        pull.update({"merged": True, "state": "closed", "merge_commit_sha": sha})
        return web.json_response({"sha": sha, "merged": True,
                                  "message": "Pull Request successfully merged"})

    async def _create_check_run(self, request: web.Request) -> web.Response:
        run_id = next(self._ids)
        project = f"{request.match_info['owner']}/{request.match_info['repo']}"
        self.check_runs[run_id] = {"id": run_id, "project": project,
                                   "history": [dict(request[BODY])], **request[BODY]}
        return web.json_response(self.check_runs[run_id], status=201)

    async def _update_check_run(self, request: web.Request) -> web.Response:
        run = self.check_runs.get(int(request.match_info["id"]))
        if run is None:
            return web.json_response({"message": "Not Found"}, status=404)
        run.update(request[BODY])
        run["history"].append(dict(request[BODY]))
        return web.json_response(run)

    async def _git_ref(self, request: web.Request) -> web.Response:
        """"Get a branch" (``commit.sha``) and "Get a reference" (``object.sha``), from the
        real git repositories when the stand-in has them."""
        project = f"{request.match_info['owner']}/{request.match_info['repo']}"
        name = request.match_info.get("branch") or request.match_info["ref"]
        ref = f"refs/heads/{name}" if "branch" in request.match_info else f"refs/{name}"
        sha = None
        if self.repos is not None and self.repos.path(project).exists():
            sha = await asyncio.to_thread(self.repos.resolve, project, ref)
        if sha is None:
            return web.json_response({"message": "Not Found"}, status=404)
        if "branch" in request.match_info:
            return web.json_response({"name": name, "commit": {"sha": sha}, "protected": False})
        return web.json_response({"ref": ref, "object": {"type": "commit", "sha": sha}})

    async def _installation(self, request: web.Request) -> web.Response:
        return web.json_response({"id": 4242, "app_id": self.app_id,
                                  "account": {"login": request.match_info["owner"]}})

    async def _access_token(self, request: web.Request) -> web.Response:
        token = f"ghs_{next(self._ids):08d}"
        expires = time.time() + self.token_ttl
        self.tokens[token] = expires
        stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response({"token": token, "expires_at": stamp}, status=201)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        repo = "/repos/{owner}/{repo}"
        app.router.add_post(repo + "/statuses/{sha}", self._created)
        app.router.add_post(repo + "/issues/{number}/comments", self._comment)
        app.router.add_get(repo + "/pulls/{number}", self._pull)
        app.router.add_put(repo + "/pulls/{number}/merge", self._merge)
        app.router.add_post(repo + "/check-runs", self._create_check_run)
        app.router.add_patch(repo + "/check-runs/{id}", self._update_check_run)
        app.router.add_get(repo + "/installation", self._installation)
        app.router.add_get(repo + "/branches/{branch}", self._git_ref)
        app.router.add_get(repo + "/git/ref/{ref:.+}", self._git_ref)
        app.router.add_post("/app/installations/{id}/access_tokens", self._access_token)
        return app

    def start(self) -> GitHubAPI:
        self._server.start(self._app())
        return self

    def stop(self) -> None:
        self._server.stop()

    # What tests look at ---------------------------------------------------------------------

    def add_pull(self, project: str, number: int, files: dict[str, str], body: str = "",
                 base: str = "main", title: str | None = None) -> dict[str, Any]:
        """A pull request whose head commits ``files`` on the current tip of ``base``."""
        assert self.repos is not None, "GitHubAPI(root=...) serves repositories"
        sha = self.repos.commit(project, base, files, title or f"change {number}",
                                ref=f"refs/pull/{number}/head")
        pull = {"number": number, "title": title or f"change {number}", "state": "open",
                "merged": False, "body": body,
                "html_url": f"https://github.com/{project}/pull/{number}",
                "head": {"sha": sha, "ref": f"feature-{number}"}, "base": {"ref": base}}
        self.pulls[(project, number)] = pull
        return pull

    def merges(self) -> list[str]:
        """``owner/repo#n`` of every merge call, in order."""
        return [re.sub(r"^/repos/(.+)/pulls/(\d+)/merge$", r"\1#\2", c["path"])
                for c in list(self.calls) if c["operation"] == "pulls/merge"]

    def statuses(self, sha: str) -> list[tuple[str, str]]:
        """(context, state) of every status posted for ``sha``, in order."""
        return [(c["body"]["context"], c["body"]["state"]) for c in list(self.calls)
                if c["path"].endswith(f"/statuses/{sha}") and c["method"] == "POST"]

    def status_descriptions(self, sha: str) -> list[str]:
        return [c["body"].get("description", "") for c in list(self.calls)
                if c["path"].endswith(f"/statuses/{sha}") and c["method"] == "POST"]

    def comments(self, project: str, number: int) -> list[str]:
        return [c["body"]["body"] for c in list(self.calls)
                if c["path"] == f"/repos/{project}/issues/{number}/comments"]

    def dump(self) -> str:
        return json.dumps(self.calls, indent=1)
