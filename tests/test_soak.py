"""``scripts/soak`` (issue 10): a short run passes and prints its summary.

The soak itself is the check of the server (minutes of mixed good and hostile traffic,
every answer checked, fds and RSS compared idle after warm-up and at the end); this test
only keeps the script working, so it runs for twelve seconds of load with short pauses.
A failure prints the soak's own output, which names each unexpected answer.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOAK = ROOT / "scripts" / "soak"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not (ROOT / ".venv" / "bin" / "uvicorn").exists(),
    reason="the soak samples /proc and runs the CLI from .venv",
)


@pytest.mark.timeout(120)
def test_a_short_soak_passes_and_reports() -> None:
    command = [str(SOAK), "--minutes", "0.2", "--interval", "2", "--concurrency", "16"]
    command += ["--settle", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "== soak summary ==" in output
    assert output.rstrip().endswith("result: PASS"), output
    assert re.search(r"^start \(idle 1 s\): \d+ server rss [\d.]+ MiB fds \d+", output, re.M)
    assert re.search(r"^end \(idle 1 s\): \d+ server rss [\d.]+ MiB fds \d+", output, re.M)
    for kind in ("keep-alive", "pipelined", "hostile-whole", "hostile-pieces"):
        match = re.search(rf"^{kind} +(\d+) +(\d+) +0$", output, re.M)
        assert match and int(match.group(1)) > 0, f"no clean row for {kind}:\n{output}"
    assert re.search(r"^slow-\S+ +\d+ +\d+ +0$", output, re.M), output
    assert re.search(r"^rss server \d+: start [\d.]+ MiB, end [\d.]+ MiB, growth", output, re.M)
    assert re.search(r"^fds server \d+: start \d+, end \d+", output, re.M)
    assert re.search(r"^server log: .* 0 unexpected errors$", output, re.M)
