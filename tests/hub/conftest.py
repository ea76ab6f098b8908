"""Fixtures of the local-Hub tests: one Hugging Face cache per session, and the user's commands run by id against it in
subprocesses that cannot reach the network (every attempt is recorded, and any attempt fails the test)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Loaded at interpreter start (``sitecustomize``) in every command these tests run: connections to anything but the
# loopback, and name lookups, are recorded in $ETTIN_NETWORK_LOG and refused.
NETWORK_GUARD = '''
import os, socket

_LOG = os.environ.get("ETTIN_NETWORK_LOG")
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", None, ""}


def _record(what):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(what + "\\n")


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _remote(sock, address):
    return sock.family in (socket.AF_INET, socket.AF_INET6) and str(address[0]) not in _LOCAL


def connect(self, address):
    if _remote(self, address):
        _record(f"connect {address!r}")
        raise OSError("network access blocked by the offline test guard")
    return _connect(self, address)


def connect_ex(self, address):
    if _remote(self, address):
        _record(f"connect_ex {address!r}")
        raise OSError("network access blocked by the offline test guard")
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if (host.decode() if isinstance(host, bytes) else host) not in _LOCAL:
        _record(f"getaddrinfo {host!r}")
        raise socket.gaierror("name lookup blocked by the offline test guard")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''

_CACHE_VARIABLES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "SENTENCE_TRANSFORMERS_HOME")


@pytest.fixture(scope="session")
def hub_home(tmp_path_factory) -> Path:
    """An ``HF_HOME`` whose hub cache holds the 17m reranker and encoder replicas, the teacher stand-in and MiniLM."""
    from ettin.hub_cache import build_hub_cache

    home = tmp_path_factory.mktemp("hf-home")
    build_hub_cache(home, sizes=("17m",))
    return home


@pytest.fixture(scope="session")
def guard_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("network-guard")
    (folder / "sitecustomize.py").write_text(NETWORK_GUARD, encoding="utf-8")
    return folder


def offline_env(hub_home: Path, guard_dir: Path, network_log: Path) -> dict[str, str]:
    """The environment of a user who set ``HF_HUB_OFFLINE=1 HF_HOME=<hub_home>``, plus the network guard."""
    env = {k: v for k, v in os.environ.items() if k not in _CACHE_VARIABLES}
    env.update(
        HF_HOME=str(hub_home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False", TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join([str(guard_dir), str(ROOT)]), ETTIN_NETWORK_LOG=str(network_log),
    )
    return env


@pytest.fixture
def guarded_env(hub_home, guard_dir):
    """``guarded_env(log)``: the offline environment of :func:`offline_env`, recording network attempts in ``log``."""
    return lambda log: offline_env(hub_home, guard_dir, log)


@pytest.fixture
def run_offline(hub_home, guard_dir, tmp_path):
    """Run ``python <args>`` as a user would, offline against the local Hub; asserts success and that no network access
    was attempted. Returns the completed process."""

    def run(args: list[str], timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
        log = tmp_path / "network.log"
        done = subprocess.run(
            [sys.executable, *args], cwd=tmp_path, env=offline_env(hub_home, guard_dir, log),
            capture_output=True, text=True, timeout=timeout,
        )
        if check:
            assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        attempts = log.read_text(encoding="utf-8") if log.exists() else ""
        assert attempts == "", f"{args} tried to reach the network:\n{attempts}"
        return done

    return run
