"""The suite's own pytest configuration is strict: a warning (a leaked socket's ResourceWarning at garbage
collection included), an unknown marker or an unknown ini key fails the run. Each case runs pytest in a
subprocess on a one-test file with this repository's pyproject.toml, so a loosened setting fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

CASES = {
    "leaked socket": (
        "import gc\nimport socket\n\n\ndef test_leak():\n    socket.socket()\n    gc.collect()\n",
        "ResourceWarning",
    ),
    "deprecation": (
        "import warnings\n\n\ndef test_warns():\n    warnings.warn('old', DeprecationWarning)\n",
        "DeprecationWarning: old",
    ),
    "unknown marker": (
        "import pytest\n\n\n@pytest.mark.no_such_marker\ndef test_marked():\n    pass\n",
        "'no_such_marker' not found in `markers` configuration option",
    ),
}


def run_pytest(tmp_path: Path, source: str, *extra: str) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_case.py"
    test.write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(PYPROJECT),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            *extra,
            str(test),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_the_configuration_fails_the_run(tmp_path: Path, case: str) -> None:
    source, expected = CASES[case]
    result = run_pytest(tmp_path, source)
    assert result.returncode != 0, result.stdout
    assert expected in result.stdout + result.stderr


def test_an_unknown_ini_key_fails_the_run(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "def test_ok():\n    pass\n", "-o", "no_such_option=1")
    assert result.returncode != 0, result.stdout
    assert "Unknown config option: no_such_option" in result.stdout + result.stderr


def test_a_clean_test_passes(tmp_path: Path) -> None:
    """The control: the same invocation passes when the test is clean, so the failures above are ours."""
    result = run_pytest(tmp_path, "def test_ok():\n    pass\n")
    assert result.returncode == 0, result.stdout + result.stderr
