"""Where running fakes say they are: `.local/fakes.json` of the local stack (thinbase/local/paths.py).

Whatever runs the fakes (`make dev`, `thinbase fakes serve`, `thinbase local up --fakes`) writes it while
they run and removes it when they stop; readers (`thinbase local mail`, `thinbase serve --local`) find the
fakes' URLs there:

    {"pid": 4242, "edge_url": "http://127.0.0.1:54321" | null,
     "services": {"stripe": "http://127.0.0.1:40123", …, "ai": "…", "mail": "…"},
     "env": {"STRIPE_BASE_URL": "…", …}}

A service is absent when the real one is configured. `env` holds the settings that point an edge app at
the fakes, local secrets included, so the file is written with mode 0600 (created so: never readable by
others, not even for a moment). A file whose process has died (a crash, a kill -9) reads as no fakes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from thinbase.local import paths

FILE_NAME = "fakes.json"


@dataclass(frozen=True)
class FakesState:
    pid: int
    edge_url: str | None
    services: dict[str, str]  # service name ("stripe", …, "ai", "mail") -> the fake's URL
    env: dict[str, str] = field(default_factory=dict)


def state_path(local_dir: Path | None = None) -> Path:
    return (paths.LOCAL_DIR if local_dir is None else local_dir) / FILE_NAME


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True


def write_state(
    *,
    pid: int,
    edge_url: str | None,
    services: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    local_dir: Path | None = None,
) -> FakesState:
    """Record running fakes (replacing any earlier record) and return what was written."""
    state = FakesState(pid, edge_url, dict(services), dict(env or {}))
    path = state_path(local_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the file and renamed over it: a reader never sees half a file.
    partial = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # O_CREAT's mode applies only to a new file
        out.write(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(partial, path)
    return state


def read_state(local_dir: Path | None = None) -> FakesState | None:
    """The running fakes, or None when the file is missing, unreadable, or its process is gone."""
    try:
        raw = json.loads(state_path(local_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    pid, edge_url, services = raw.get("pid"), raw.get("edge_url"), raw.get("services")
    env = raw.get("env", {})
    if (
        not isinstance(pid, int)
        or not (edge_url is None or isinstance(edge_url, str))
        or not isinstance(services, dict)
        or not isinstance(env, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in [*services.items(), *env.items()])
    ):
        return None
    if not alive(pid):
        return None
    return FakesState(pid, edge_url, services, env)


def clear_state(local_dir: Path | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(local_dir).unlink()
