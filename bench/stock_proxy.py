"""Install and start a stock LiteLLM proxy (the benchmark's comparison arm) in a throwaway venv.

Recipe (`docs/field-notes.md`, "LiteLLM"): `litellm[proxy]==X` cannot be installed as such (it
needs an unpublished `litellm-proxy==X`), so install `litellm==X` plus the
proxy extra's requirements read from the wheel's metadata, minus
`litellm-proxy`, with `litellm-proxy-extras` and `litellm-enterprise` unpinned.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import venv
from importlib.metadata import distribution
from pathlib import Path

import httpx

LITELLM_VERSION = "1.110.2"
REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".cache" / "bench-litellm-proxy"
UNPINNED = {"litellm-proxy-extras", "litellm-enterprise"}
SKIPPED = {"litellm-proxy"}


def proxy_requirements() -> list[str]:
    """The `proxy` extra's requirements of the installed litellm wheel, adjusted per the recipe."""
    requirements: list[str] = []
    for line in distribution("litellm").requires or []:
        if "extra == 'proxy'" not in line and 'extra == "proxy"' not in line:
            continue
        spec, _, marker = line.partition(";")
        name = re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()
        if name in SKIPPED:
            continue
        marker = re.sub(r"\s*and\s*extra\s*==\s*['\"]proxy['\"]", "", marker)
        marker = re.sub(r"extra\s*==\s*['\"]proxy['\"]\s*(and)?", "", marker).strip()
        requirement = name if name in UNPINNED else spec.strip()
        requirements.append(f"{requirement}; {marker}" if marker else requirement)
    return requirements


def python() -> Path:
    """The throwaway venv's interpreter."""
    return VENV / "bin" / "python"


def install(log: Path) -> bool:
    """Create the venv and install the proxy; False (with the log kept) if it cannot be done."""
    litellm_bin = VENV / "bin" / "litellm"
    if litellm_bin.exists():
        return True
    VENV.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    command = [
        str(python()),
        "-m",
        "pip",
        "install",
        "--quiet",
        f"litellm=={LITELLM_VERSION}",
        *proxy_requirements(),
    ]
    with log.open("w") as out:
        result = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, timeout=1200, check=False
        )
    return result.returncode == 0 and litellm_bin.exists()


def start(
    config: Path, port: int, master_key: str, seconds: float = 120
) -> subprocess.Popen[bytes]:
    """Start `litellm --config` on 127.0.0.1 and wait on /health/liveliness for `seconds`."""
    env = {
        **os.environ,
        "LITELLM_OFFLINE_MODE": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOG": "ERROR",
    }
    process = subprocess.Popen(
        [
            str(VENV / "bin" / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=config.parent,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"stock proxy exited with {process.returncode}")
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=1).status_code
                == 200
            ):
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"stock proxy did not become live in {seconds:.0f} s")


if __name__ == "__main__":
    print("\n".join(proxy_requirements()))
    print(
        "installed" if install(REPO / ".cache" / "bench-litellm-proxy-install.log") else "failed",
        file=sys.stderr,
    )
