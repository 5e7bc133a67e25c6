import collections
import math

import pytest

from glam_tf.data import (GLAM_COMPONENTS, DataError, FilesSource, Mixture, TextSource,
                          parse_data_spec)
from glam_tf.data.mixture import parse_mix_components

WEIGHTS = {"a": 0.55, "b": 0.3, "c": 0.15}


def _mixture():
    sources = [TextSource([f"{name} document {i}" for i in range(50)], spec=name)
               for name in WEIGHTS]
    return Mixture(sources, [w * 10 for w in WEIGHTS.values()])  # normalized inside


def _draws(dataset):
    return [t.decode("utf-8") for t in dataset.as_numpy_iterator()]


def test_sampled_proportions_match_weights_within_4_sigma():
    n = 4000
    counts = collections.Counter(text[0] for text in _draws(_mixture().stream(seed=5).take(n)))
    for name, weight in WEIGHTS.items():
        sigma = math.sqrt(n * weight * (1 - weight))
        assert abs(counts[name] - n * weight) < 4 * sigma, (name, counts)


def test_sampling_is_deterministic_under_a_seed():
    mixture = _mixture()
    first = _draws(mixture.stream(seed=11).take(300))
    assert _draws(mixture.stream(seed=11).take(300)) == first
    assert _draws(mixture.stream(seed=12).take(300)) != first


def test_one_pass_reads_every_component_document_once():
    mixture = _mixture()
    once = _draws(mixture.stream(seed=3, repeat=False))
    expected = [t for source in mixture.sources for t in source.texts("train")]
    assert sorted(once) == sorted(expected)
    assert sorted(_draws(mixture.documents("validation"))) == \
        sorted(t for source in mixture.sources for t in source.texts("validation"))


def test_mix_spec_allows_colons_equals_and_commas_in_component_specs():
    assert parse_mix_components("files:/a,b/x=y/*.jsonl:body=0.3, tfds:lm1b:train[:10%]=7") == \
        [("files:/a,b/x=y/*.jsonl:body", 0.3), ("tfds:lm1b:train[:10%]", 7.0)]


def test_mix_spec_builds_a_normalized_mixture(tmp_path):
    (tmp_path / "a.txt").write_text("a local document")
    mixture = parse_data_spec(f"mix:embedded=0.7,files:{tmp_path}/*.txt=0.3")
    assert isinstance(mixture, Mixture)
    assert mixture.names == ("embedded", f"files:{tmp_path}/*.txt")
    assert mixture.weights == pytest.approx((0.7, 0.3))
    assert isinstance(mixture.sources[1], FilesSource)


@pytest.mark.parametrize("spec, message", [
    ("mix:embedded", "has no =WEIGHT"),
    ("mix:embedded=0.5,embedded", "has no =WEIGHT"),
    ("mix:embedded=0", "must be a finite number > 0"),
    ("mix:embedded=-1", "must be a finite number > 0"),
    ("mix:embedded=nan", "must be a finite number > 0"),
    ("mix:mix:embedded=1=1", "cannot be nested"),
    ("mix:glam=1", "cannot be nested"),
    ("mix:embedded=1,", "an empty component: a trailing comma"),
    ("mix:embedded=1,,embedded=2", "an empty component"),
    ("mix:embedded=abc,files:x=1", r"^data spec 'mix:embedded=abc,files:x=1': 'abc' is not a "
                                   r"weight \(a number > 0\) for 'embedded'"),
])
def test_bad_mix_specs_are_errors(spec, message):
    with pytest.raises(DataError, match=message):
        parse_data_spec(spec)


def test_glam_preset_has_the_paper_weights():
    weights = {c.name: c.weight for c in GLAM_COMPONENTS}
    assert weights == {"webpages": 0.42, "wikipedia": 0.06, "conversations": 0.28,
                       "forums": 0.02, "books": 0.20, "news": 0.02}
    assert sum(weights.values()) == pytest.approx(1.0)


def test_glam_without_sources_lists_what_every_component_needs():
    with pytest.raises(DataError) as error:
        parse_data_spec("glam", env={"GLAM_DATA_BOOKS": "embedded"})
    message = str(error.value)
    assert "no source for webpages, wikipedia, conversations, forums, news" in message
    for component in GLAM_COMPONENTS:
        assert component.name in message and component.env_var in message
        assert component.example in message
    assert "given: embedded" in message


def test_glam_takes_specs_from_the_spec_and_the_environment(tmp_path):
    (tmp_path / "chat.jsonl").write_text('{"text": "hi there"}\n{"text": "hello again"}\n')
    env = {c.env_var: "embedded" for c in GLAM_COMPONENTS}
    mixture = parse_data_spec(f"glam:conversations=files:{tmp_path}/*.jsonl,forums=embedded",
                              env=env)
    assert mixture.names == tuple(c.name for c in GLAM_COMPONENTS)
    assert mixture.weights == pytest.approx([c.weight for c in GLAM_COMPONENTS])
    assert isinstance(mixture.sources[2], FilesSource)
    assert mixture.spec.startswith("glam:webpages=embedded,")


def test_glam_unknown_or_repeated_component_is_an_error():
    with pytest.raises(DataError, match="no component 'blogs'"):
        parse_data_spec("glam:blogs=embedded", env={})
    with pytest.raises(DataError, match="given twice"):
        parse_data_spec("glam:news=embedded,news=embedded", env={})
