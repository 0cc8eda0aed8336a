"""Print the requirements of pyproject.toml (runtime plus the named extras), one per line.

The Makefile installs them into .venv so that pyproject.toml stays the only list of dependencies.
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += project["optional-dependencies"][extra]
print("\n".join(requirements))
