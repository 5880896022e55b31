"""Set-up files agree with each other, and importing the package stays cheap."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _name_and_range(requirement):
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*(;.*)?$", requirement)
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(_name_and_range(r) for r in requirements if "python_version" not in r)


def _environment_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item.startswith("python") or item == "pip":
                continue
            name, version_range = _name_and_range(item)
            found[name] = version_range
    return found


def test_environment_yml_agrees_with_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_constraints_pin_every_dependency_exactly():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    assert set(_pyproject_requirements()) <= set(pins), "pin every direct dependency in constraints.txt"


def test_pyproject_ranges_are_open():
    for name, version_range in _pyproject_requirements().items():
        assert "==" not in version_range, f"{name}: use a range in pyproject.toml, pin in constraints.txt"


def test_importing_course_utils_is_cheap():
    code = ("import sys, course_utils; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'nbformat', 'nbclient') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make lab" in (ROOT / "README.md").read_text()


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["course"] == "course_utils.cli:main"
