import pytest

from glam_tf.jsonl import JsonlError, read_objects


def test_objects_come_with_their_line_numbers_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"x": 1}\n\n   \n{"x": "two\u2028lines"}\n', encoding="utf-8")
    assert list(read_objects(str(path))) == [(1, {"x": 1}), (4, {"x": "two\u2028lines"})]


def test_a_byte_order_mark_is_not_part_of_the_first_object(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes('\ufeff{"x": 1}\n'.encode("utf-8"))
    assert list(read_objects(str(path))) == [(1, {"x": 1})]


@pytest.mark.parametrize("line, message", [('{"x": ', r"not valid JSON \(Expecting value"),
                                           ("[1, 2]", "expected a JSON object, got list"),
                                           ('"text"', "expected a JSON object, got str")])
def test_a_bad_line_is_an_error_naming_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ok": true}\n' + line + "\n")
    with pytest.raises(JsonlError, match=f"bad.jsonl:2: {message}") as error:
        list(read_objects(str(path)))
    assert (error.value.path, error.value.line) == (str(path), 2)


def test_already_decoded_text_is_parsed_instead_of_the_file():
    assert list(read_objects("given.jsonl", text='{"a": 1}\n')) == [(1, {"a": 1})]
