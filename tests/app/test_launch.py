"""Launch options: local by default, no share link, no model loaded while the app is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class _FakeDemo:
    def __init__(self):
        self.kwargs = None

    app = None

    def launch(self, **kwargs):
        self.kwargs = kwargs

    def block_thread(self):
        self.blocked = True


def _run_main(monkeypatch, argv):
    import app

    demo, seen = _FakeDemo(), {}

    def fake_build(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return demo

    monkeypatch.setattr(app, "build_app", fake_build)
    app.main(argv)
    return demo.kwargs, seen


def test_defaults_are_local_without_share(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    launch, _ = _run_main(monkeypatch, [])
    assert launch["server_name"] == "127.0.0.1" and launch["server_port"] == 7860
    assert launch["share"] is False
    import app

    assert launch["max_file_size"] == app.EVALUATE_MAX_UPLOAD == "50mb" and launch["prevent_thread_lock"] is True


def test_host_port_models_dir_and_share_are_options(monkeypatch, tmp_path):
    launch, seen = _run_main(
        monkeypatch, ["--host", "0.0.0.0", "--port", "9001", "--models-dir", str(tmp_path), "--first-stage", "bm25", "--share"]
    )
    assert launch["server_name"] == "0.0.0.0" and launch["server_port"] == 9001 and launch["share"] is True
    assert seen["args"][0] == str(tmp_path) and seen["kwargs"]["default_first_stage"] == "bm25"


def test_building_the_app_loads_no_model(tmp_path):
    code = (
        "import sys, app; demo = app.build_app(include_hub=False); "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    env = {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ETTIN_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_python_app_py_serves_at_once_and_warms_up_first_only_when_told(monkeypatch):
    import threading

    import app

    order = []

    class WarmingDemo(_FakeDemo):
        def launch(self, **kwargs):
            order.append("launch")

    def warm_up(compile=False):
        thread = threading.Thread(target=lambda: order.append(f"warmed up, compile={compile}"))
        thread.start()
        return thread

    for argv, expected in (([], ["launch", "warmed up, compile=False"]),  # answers at once, builds a backend after
                           (["--warm-up-first"], ["warmed up, compile=True", "launch"])):  # compiles only before serving
        demo, order[:] = WarmingDemo(), []
        demo.ettin_warm_up = warm_up
        monkeypatch.setattr(app, "build_app", lambda *a, **k: demo)
        app.main(argv)
        threading.Event().wait(0.2)  # the background warm-up's thread
        assert order == expected, argv


def test_the_compile_flags_help_quotes_the_speed_up_of_the_committed_speed_file(capsys, tmp_path, monkeypatch):
    import json

    import pytest

    import app

    def both(data):  # the eager and the compiled bf16 rows of a speed file, when it measured both
        rows = {(r["runtime"], r["config"]): r["pairs_per_s"] for r in data["rows"]}
        return rows.get(("ettin", "bf16-sdpa")), rows.get(("ettin", "bf16-sdpa-compiled"))

    files = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((ROOT / "eval/results/speed").glob("*.json"))]
    data = max((d for d in files if all(both(d))), key=lambda d: d["provenance"]["date"])  # the newest that has both
    eager, compiled = both(data)
    gain = compiled / eager
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps its help at the terminal's width, hyphens included
    with pytest.raises(SystemExit):
        app.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"searches {gain:.2f}x as fast as eager bf16 (measured on {data['provenance']['hardware']['description']}" in shown
    assert "1.6x" not in shown and "20-90 s" not in shown
    from demo.texts import compile_help

    assert "x as fast" not in compile_help(tmp_path)  # no speed result: no number


def test_the_backend_option_reaches_the_playground_and_a_bad_one_is_refused(monkeypatch, capsys):
    import pytest

    _, seen = _run_main(monkeypatch, ["--backend", "torch"])
    assert seen["kwargs"]["backend"] == "torch"
    with pytest.raises(SystemExit):
        _run_main(monkeypatch, ["--backend", "tensorrt"])
    assert "invalid choice: 'tensorrt'" in capsys.readouterr().err
