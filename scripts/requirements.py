"""Print requirements from pyproject.toml, one per line.

    requirements.py [EXTRA ...] [--group GROUP ...]

prints the runtime dependencies plus those of the named extras ([project.optional-dependencies])
and dependency groups ([dependency-groups], PEP 735: tools for developing the package, such as the
wheel-building tools, that users of the package never need). The Makefile installs them into .venv
so that pyproject.toml stays the only list of dependencies.
"""

import argparse
import tomllib
from pathlib import Path
from typing import Any

pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())


def group(name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """The requirements of a dependency group, following its `{include-group = ...}` entries."""
    if name in seen:
        raise SystemExit(f"dependency group {name!r} includes itself")
    requirements = []
    entry: Any
    for entry in pyproject["dependency-groups"][name]:
        if isinstance(entry, str):
            requirements.append(entry)
        else:
            requirements += group(entry["include-group"], (*seen, name))
    return requirements


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("extras", nargs="*", metavar="EXTRA")
parser.add_argument("--group", action="append", default=[], metavar="GROUP")
args = parser.parse_args()

project = pyproject["project"]
requirements = list(project["dependencies"])
for extra in args.extras:
    requirements += project["optional-dependencies"][extra]
for name in args.group:
    requirements += group(name)
print("\n".join(requirements))
