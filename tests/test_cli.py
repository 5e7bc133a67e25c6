import subprocess
import sys

from glam_tf.presets import PRESETS


def _glam(*args):
    return subprocess.run([sys.executable, "-m", "glam_tf.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_glam_presets_lists_every_preset_with_its_sizes():
    result = _glam("presets")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in PRESETS:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert "1.16T" in result.stdout and "96.6B" in result.stdout


def test_glam_help_and_missing_command():
    assert "presets" in _glam("--help").stdout
    result = _glam()
    assert result.returncode == 2 and "required" in result.stderr
