"""The data-spec table: one parser per kind, and source modules that never import it."""

import ast
import pathlib

import pytest

import glam_tf.data
from glam_tf.data import SPEC_KINDS, DataError, parse_data_spec

DATA_DIR = pathlib.Path(glam_tf.data.__file__).parent


def _glam_imports(path):
    """The glam_tf modules a file imports (absolute `from glam_tf... import` and `import glam_tf...`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("glam_tf"):
            names.update(f"{node.module}.{a.name}" if node.module == "glam_tf.data" else node.module
                         for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("glam_tf"))
    return names


def test_sources_module_is_a_leaf_and_only_the_table_and_pipeline_import_specs():
    assert _glam_imports(DATA_DIR / "sources.py") == set()
    importers = {p.name for p in DATA_DIR.glob("*.py") if "glam_tf.data.specs" in _glam_imports(p)}
    assert importers == {"__init__.py", "pipeline.py"}


def test_every_kind_is_one_table_entry_whose_form_starts_with_its_name():
    assert list(SPEC_KINDS) == ["embedded", "files", "tfds", "quality", "mix", "glam"]
    for name, kind in SPEC_KINDS.items():
        assert kind.form.split(":")[0].split("[")[0] == name
    assert {n for n, k in SPEC_KINDS.items() if k.mixture} == {"mix", "glam"}


@pytest.mark.parametrize("spec", ["embeded", "http://x", "Files:a.txt"])
def test_an_unknown_kind_names_the_spec_and_lists_every_form(spec):
    with pytest.raises(DataError) as error:
        parse_data_spec(spec)
    message = str(error.value)
    assert repr(spec) in message
    assert all(kind.form in message for kind in SPEC_KINDS.values())


def test_embedded_takes_nothing_after_it():
    with pytest.raises(DataError, match="'embedded:x': embedded takes nothing after it"):
        parse_data_spec("embedded:x")
