"""``make demo`` from a fresh clone: seconds until the dashboard answers, and where they go.

Clones the repository (``--rev``, default HEAD) into a temporary folder, runs ``make demo``
there with a new virtual environment and polls ``/login`` until it answers 200; the time
the install finished (``.venv/bin/.installed``) and the demo data was scored (the
``scored … accounts`` line) split it into install, demo data and server start. Results are
printed and appended to ``.bench/results.jsonl``.

    python -m bench.demo_start [--rev REV] [--port 8765]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.results import record

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "rev-parse", "--short", args.rev], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "healthscore"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
        makefile = clone / "Makefile"
        text = makefile.read_text(encoding="utf-8")
        if "PORT" not in text:  # older Makefiles serve on 8000, which may be taken here
            makefile.write_text(text.replace("$(HS) serve\n", "$(HS) serve --port $(PORT)\n"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHSCORE_", "VIRTUAL"))}
        env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
        make = subprocess.Popen(
            ["make", "demo", f"PORT={args.port}"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started = time.monotonic()
        scored = None
        url = f"http://127.0.0.1:{args.port}/login"
        assert make.stdout is not None
        os.set_blocking(make.stdout.fileno(), False)
        try:
            while time.monotonic() - started < TIMEOUT:
                for line in iter(make.stdout.readline, ""):
                    if scored is None and line.startswith("scored "):
                        scored = time.monotonic() - started
                if _answers(url):
                    break
                if make.poll() is not None:
                    raise RuntimeError(f"make demo ended with {make.returncode}")
                time.sleep(0.25)
            answered = time.monotonic() - started
        finally:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=30)
        markers = [clone / ".venv" / "bin" / name for name in (".runtime", ".installed")]
        marker = next(path for path in markers if path.exists())  # .runtime since 2026-12-06
        installed = marker.stat().st_mtime - (time.time() - (time.monotonic() - started))
    result = {
        "install_s": round(installed, 1),
        "demo_data_s": round((scored or answered) - installed, 1),
        "dashboard_answers_s": round(answered, 1),
    }
    print(f"make demo at {rev}: {result}")
    record("demo_start", measured_rev=rev, **result)


if __name__ == "__main__":
    main()
