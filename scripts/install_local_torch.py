"""Install PyTorch (the oracle of tests/test_torch_oracle.py) only where this machine keeps
a wheel of it for the running CPython in a local folder (default /opt/wheels).

PyPI's default torch for Linux is the CUDA build with several GB of dependencies; a test
environment should not download that to check a few numbers. Where no local wheel fits,
this says so and does nothing, and the oracle tests skip with their reason.

    python scripts/install_local_torch.py [FOLDER]
"""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path


def main(folder: str = "/opt/wheels") -> int:
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    wheels = sorted(glob.glob(str(Path(folder) / f"torch-*-{tag}-{tag}-*.whl")))
    if not wheels:
        print(f"no local torch wheel for {tag} in {folder}: the PyTorch oracle tests will skip")
        return 0
    # the wheel itself from the folder; its small pure-Python dependencies from the index
    command = [sys.executable, "-m", "pip", "install", "-q", wheels[-1]]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
