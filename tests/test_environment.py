"""The environment is pinned, and pinned the same way everywhere."""
import re
import tomllib

import yaml
from coursekit import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(requirements):
    pins = {}
    for req in requirements:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", req)
        assert m, f"{req!r} is not pinned with == (pin every dependency so the notebooks don't break)"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_every_pyproject_dependency_is_pinned():
    project = _pyproject()["project"]
    _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        _pins(extra)


def test_environment_yml_names_the_same_pins_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip_section, "environment.yml must install the project itself (pip: -e .)"
    env_pins = _pins([r for r in pip_section if not r.startswith("-")])
    assert env_pins == _pins(_pyproject()["project"]["dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def test_constraints_lock_agrees_with_pyproject():
    lock = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version
    project = _pyproject()["project"]
    wanted = _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_pins(extra))
    for name, version in wanted.items():
        assert lock.get(name) == version, f"constraints.txt has {name}=={lock.get(name)}, pyproject {version}"


def test_importing_nbformat_compiles_no_uri_grammars():
    """jsonschema 4.24+ imports rfc3987-syntax, which compiles 39 grammars at import: 1.2 s of CPU in
    every grade, nbgrader command and Jupyter server (0.23 s for all of nbformat without it)."""
    import subprocess
    import sys
    probe = "import sys, nbformat; print(sorted(m for m in ('rfc3987_syntax', 'lark') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing nbformat also imports {out.strip()} (jsonschema is pinned below 4.24)"
