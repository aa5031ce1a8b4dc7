"""Running the git CLI from asyncio: bounded in time, killed with its process group."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

GIT_TIMEOUT = 120.0


class GitError(RuntimeError):
    """A git command failed; ``output`` is what it printed."""

    def __init__(self, args: list[str], code: int, output: str) -> None:
        last = output.strip().splitlines()[-1] if output.strip() else f"exit {code}"
        super().__init__(f"git {' '.join(args[:2])} failed: {last}")
        self.code = code
        self.output = output


def git_env(merge_time: int | None = None) -> dict[str, str]:
    """The environment of every git command: no prompts, no user or system config.

    With ``merge_time`` the commits git creates have a fixed identity and date, so the same
    merge made twice (scheduler, then executor) gives the same commit ids.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
    if merge_time is not None:
        date = f"@{merge_time} +0000"
        env.update({"GIT_AUTHOR_NAME": "Zuul", "GIT_AUTHOR_EMAIL": "zuul@zuul.invalid",
                    "GIT_COMMITTER_NAME": "Zuul", "GIT_COMMITTER_EMAIL": "zuul@zuul.invalid",
                    "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    return env


async def git(args: list[str], cwd: Path, env: dict[str, str] | None = None,
              check: bool = True, timeout: float = GIT_TIMEOUT) -> tuple[int, str]:
    """Run ``git *args`` in ``cwd``; return (exit code, output); raise GitError if ``check``."""
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=env or git_env(), start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    code = proc.returncode or 0
    text = out.decode(errors="replace")
    if check and code != 0:
        raise GitError(args, code, text)
    return code, text.strip()
