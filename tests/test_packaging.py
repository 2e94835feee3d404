"""What `pip install` of idexp gives a user: the configs, the console scripts, the licence and the typing marker."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a wheel build and fresh interpreters (seconds each)


def test_the_wheel_holds_every_config_the_scripts_the_licence_and_py_typed(tmp_path):
    source = tmp_path / "source"  # a copy: the build leaves build/ and *.egg-info behind in the tree it builds
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "logs", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
                    str(source)], check=True, capture_output=True, timeout=300)
    wheel = zipfile.ZipFile(next(tmp_path.glob("idexp-*.whl")))
    names = set(wheel.namelist())
    configs = {str(path.relative_to(ROOT)) for path in (ROOT / "idexp" / "conf").rglob("*.yaml")}
    assert configs <= names, sorted(configs - names)
    assert "idexp/py.typed" in names
    assert any(name.endswith("licenses/LICENSE") for name in names), sorted(n for n in names if "dist-info" in n)
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for script in ("idexp-train = idexp.train:main", "idexp-probe = idexp.rescore:main",
                   "idexp-report = idexp.report.__main__:main"):
        assert script in entry_points


def test_the_console_scripts_answer_help():
    scripts = Path(sys.executable).parent
    for script in ("idexp-probe", "idexp-report"):
        result = subprocess.run([str(scripts / script), "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr
