"""The job sandbox: ``ansible-playbook`` for ``local`` nodes runs inside bubblewrap.

A job on the built-in ``local`` provider runs its tasks on the executor's own host, so its
playbook must not see what the executor can: TLS keys, service configs, the state directory,
nor reach gearman or ZooKeeper. :class:`JobSandbox` turns the executor's ``ansible-playbook``
command into a bubblewrap (``bwrap``, Debian's ``bubblewrap``, what Zuul's own executor uses
for untrusted code) command that

- sees the host read-only, with each ``hide`` path replaced by an empty tmpfs (configs,
  certificates, state, logs), a private ``/tmp``, ``/dev`` and ``/proc``;
- may write only its work dir (bound over the hidden state dir) and sees its playbook's
  directory read-only;
- has its own network namespace (only a loopback nobody listens on: no gearman, no ZooKeeper,
  nothing else), and its own PID, IPC and UTS namespaces; it dies with the executor's child;
- runs as the unprivileged ``user`` (``zuul-job``): when the executor runs as root, bwrap
  sets the mounts up and ``setpriv`` really switches to that user (its uid and gid, no
  supplementary groups, no capabilities); the work dir is handed to it first. An executor
  that is not root cannot switch users: there bwrap maps the executor's uid to the job
  user's uid inside a user namespace, so the job sees itself as ``user`` while the hidden
  paths and the network namespace are what keep it out.
"""
from __future__ import annotations

import os
import pwd
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol

BWRAP = "/usr/bin/bwrap"
SETPRIV = "/usr/bin/setpriv"
DEFAULT_USER = "zuul-job"


# ``executor.sandbox`` of scheduler.yaml and executor.yaml. ``hide`` adds paths to the ones the
# service's config names (its directory, state, TLS files: :func:`with_sensitive_paths`).
SANDBOX_SCHEMA = vol.Schema(
    {
        vol.Optional("enabled", default=True): bool,
        vol.Optional("user", default=DEFAULT_USER): vol.All(str, vol.Length(min=1)),
        vol.Optional("hide", default=list): [vol.All(str, vol.Length(min=1))],
        vol.Optional("bwrap", default=BWRAP): vol.All(str, vol.Length(min=1)),
    }
)


class SandboxUnavailable(Exception):
    """bubblewrap or the job user is missing: a sandboxed build cannot run."""


@dataclass(frozen=True)
class JobUser:
    """The account a sandboxed job runs as."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def lookup(cls, name: str) -> JobUser:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise SandboxUnavailable(f"the job user {name!r} does not exist") from None
        return cls(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


@dataclass(frozen=True)
class Wrapped:
    """A sandboxed command: its argv and environment."""

    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class JobSandbox:
    """How local jobs are sandboxed (``executor.sandbox`` in scheduler.yaml)."""

    user: str = DEFAULT_USER
    hide: tuple[str, ...] = ()
    bwrap: str = BWRAP
    setpriv: str = SETPRIV

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any] | None) -> JobSandbox | None:
        """The sandbox described by a validated ``executor.sandbox`` section (None if off)."""
        if not conf or not conf.get("enabled", True):
            return None
        return cls(user=conf.get("user", DEFAULT_USER),
                   hide=tuple(str(p) for p in conf.get("hide", ())),
                   bwrap=conf.get("bwrap", BWRAP))

    def check(self) -> None:
        """Raise :class:`SandboxUnavailable` unless bwrap and the job user exist."""
        if shutil.which(self.bwrap) is None:
            raise SandboxUnavailable(f"bubblewrap ({self.bwrap}) is not installed")
        JobUser.lookup(self.user)

    def prepare(self, work_dir: Path) -> None:
        """Hand the work dir to the job user (when the executor can, i.e. runs as root)."""
        if os.geteuid() != 0:
            return
        user = JobUser.lookup(self.user)
        for root, dirs, files in os.walk(work_dir):
            os.chown(root, user.uid, user.gid, follow_symlinks=False)
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)

    def _traversable(self, path: Path) -> list[str]:
        """bwrap arguments making the directories between a hidden path and ``path`` (which
        bwrap would create with mode 0700 in the tmpfs) traversable for the job user."""
        args: list[str] = []
        # The private /tmp and /dev/shm are tmpfs too: a venv or checkout under /tmp (a CI
        # clone, say) must stay reachable for the job user.
        for hidden in (*self.hide, "/tmp", "/dev/shm"):
            if path.is_relative_to(hidden) and path != Path(hidden):
                for parent in reversed(path.relative_to(hidden).parents[:-1]):
                    args += ["--perms", "0755", "--dir", str(Path(hidden) / parent)]
        return args

    def wrap(self, argv: list[str], env: Mapping[str, str], work_dir: Path,
             readable: Iterable[Path] = ()) -> Wrapped:
        """``argv`` run inside the sandbox with ``work_dir`` writable, ``readable`` visible.

        The Python running Ansible (this venv and its base installation) stays visible even
        under a hidden path.
        """
        user = JobUser.lookup(self.user)
        args = [self.bwrap, "--die-with-parent", "--unshare-ipc", "--unshare-pid",
                "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        if os.geteuid() == 0:
            # bwrap sets the mounts up as root; setpriv then really becomes the job user
            # (uid, gid, no supplementary groups, no capabilities) for the playbook.
            command = [self.setpriv, f"--reuid={user.uid}", f"--regid={user.gid}",
                       "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
                       *argv]
        else:
            args += ["--unshare-user", "--uid", str(user.uid), "--gid", str(user.gid)]
            command = list(argv)
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
        for hidden in self.hide:
            if os.path.isdir(hidden):
                args += ["--tmpfs", hidden]
            elif os.path.exists(hidden):
                args += ["--ro-bind", "/dev/null", hidden]
        # This package too: Ansible loads Zuul's callback plugins from it, and with an
        # editable install it lives in the checkout, which may sit under a hidden path.
        package = Path(__file__).resolve().parents[1]
        for path in [Path(sys.prefix), Path(sys.base_prefix), package, *readable]:
            args += self._traversable(path)
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(work_dir), str(work_dir), "--chdir", str(work_dir), "--",
                 *command]
        job_env = {**env, "HOME": str(work_dir), "USER": user.name, "LOGNAME": user.name,
                   "TMPDIR": "/tmp"}
        return Wrapped(args, job_env)


def sensitive_paths(conf: Mapping[str, Any], config_path: str | Path) -> list[str]:
    """What a scheduler config says a job must not see: its own directory, the state, log
    and work dirs, and the directories of every TLS file (gearman and ZooKeeper)."""
    paths = [str(Path(config_path).resolve().parent), str(conf["state_dir"])]
    executor = conf.get("executor", {})
    paths += [str(executor[key]) for key in ("log_root", "work_root") if executor.get(key)]
    for section in (conf.get("gearman") or {}, conf.get("gearman_server") or {}):
        paths += [str(Path(section[key]).resolve().parent) for key in
                  ("ssl_key", "ssl_cert", "ssl_ca") if section.get(key)]
    tls = (conf.get("zookeeper") or {}).get("tls") or {}
    paths += [str(Path(tls[key]).resolve().parent) for key in ("cert", "key", "ca")
              if tls.get(key)]
    unique: list[str] = []
    for path in paths:
        if path not in unique and path != "/":
            unique.append(path)
    return unique


def with_sensitive_paths(conf: Mapping[str, Any],
                         config_path: str | Path) -> dict[str, Any] | None:
    """A loaded config's ``executor.sandbox`` with :func:`sensitive_paths` added to ``hide``
    (None when there is no enabled sandbox)."""
    sandbox = conf.get("executor", {}).get("sandbox")
    if not sandbox or not sandbox["enabled"]:
        return None
    return {**sandbox, "hide": sensitive_paths(conf, config_path) + list(sandbox["hide"])}
