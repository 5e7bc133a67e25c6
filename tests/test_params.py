import re
from pathlib import Path

import pytest

from glam_tf.params import count_parameters, format_count
from glam_tf.presets import PAPER_NAMES, PRESETS, get_preset


def test_every_preset_comment_states_its_computed_count():
    source = Path(__file__).parents[1].joinpath("glam_tf", "presets.py").read_text()
    stated = dict(re.findall(r'^\s+"([\w.]+)":.*# (\S+ / \S+)$', source, re.M))
    assert set(stated) == set(PRESETS)
    for name, config in PRESETS.items():
        count = count_parameters(config)
        assert stated[name] == f"{format_count(count.total)} / {format_count(count.activated)}"


def _paper_value(text):
    return float(text[:-1]) * {"M": 1e6, "B": 1e9, "T": 1e12}[text[-1]]


@pytest.mark.parametrize("name", ["glam_1.7b_64e", "glam_1.7b_128e", "glam_1.7b_256e",
                                  "glam_8b_64e", "glam_64b_64e", "dense_8b", "dense_137b"])
def test_counts_land_near_the_papers_table(name):
    count = count_parameters(PRESETS[name])
    _, total, activated = PAPER_NAMES[name]
    # The paper's totals match ours without the embedding to within 4%.
    assert abs(count.total_non_embedding / _paper_value(total) - 1) < 0.04
    assert abs(count.activated_non_embedding / _paper_value(activated) - 1) < 0.04


def test_largest_preset_counts_without_allocating():
    count = count_parameters(PRESETS["glam_64b_64e"])
    assert 1.1e12 < count.total < 1.25e12
    assert round(count.activated / 1e9, 1) == 96.6
    assert count.activated / count.total < 0.09  # "about 8% activated per token"


def test_unknown_preset_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean glam_tiny"):
        get_preset("glam_tiney")


def test_format_count_uses_three_significant_digits():
    assert format_count(1_234_567) == "1.23M"
    assert format_count(1_160_000_000_000) == "1.16T"
    assert format_count(999) == "999"
