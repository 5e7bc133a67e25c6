"""export/ and tasks/ install as glam_tf.export and glam_tf.tasks."""

import subprocess
import sys
from pathlib import Path

import glam_tf.export
import glam_tf.tasks

ROOT = Path(__file__).parents[1]


def test_installed_package_maps_export_and_tasks_into_glam_tf():
    assert Path(glam_tf.export.__file__).parent.name == "export"
    assert Path(glam_tf.tasks.__file__).parent.name == "tasks"


def test_regular_install_lays_out_every_subpackage(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--quiet", "--target", str(target), str(ROOT)], check=True, timeout=300)
    packages = [p.parent.relative_to(ROOT / "glam_tf") for p in (ROOT / "glam_tf").rglob("__init__.py")]
    assert len(packages) > 2
    for package in [f"glam_tf/{p}" for p in packages] + ["glam_tf/export", "glam_tf/tasks"]:
        assert (target / package / "__init__.py").is_file(), package
    probe = ("import glam_tf.export, glam_tf.tasks, glam_tf.layers.routing as r; "
             "print(glam_tf.export.__file__)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                            text=True, env={"PYTHONPATH": str(target)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target))
