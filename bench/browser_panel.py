"""The screenshot of the live panels in JupyterLab, kept as a bench artifact.

    python bench/browser_panel.py      # writes bench/results/browser_panel.png

Runs tests/test_browser.py (JupyterLab on 127.0.0.1, headless Debian Chromium, the magics tutorial plus a training
panel and a results panel) and keeps its screenshot. The test alone writes the screenshot to its temporary folder only,
so the test suite leaves the clone as it was.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "browser_panel.png"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLTRAIN_BROWSER_SCREENSHOT": str(OUT)}
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "tests" / "test_browser.py")], cwd=ROOT, env=env)
    if code == 0: print(f"wrote {OUT.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
