import io

from glam_tf.progress import ProgressBar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_bar_redraws_in_place_on_a_terminal_and_clears_to_a_blank_line():
    stream = _Terminal()
    bar = ProgressBar(stream, width=10)
    bar.draw(3, 10, "boolq 0-shot")
    bar.draw(10, 10, "boolq 0-shot", "done")
    bar.clear()
    frames = stream.getvalue().split("\r")
    assert frames[1] == "boolq 0-shot [###.......] 3/10"
    assert frames[2] == "boolq 0-shot [##########] 10/10  done"
    assert frames[3].strip() == "" and len(frames[3]) == len(frames[2]) and frames[4] == ""


def test_a_shorter_frame_overwrites_every_character_of_the_longer_one_before_it():
    stream = _Terminal()
    bar = ProgressBar(stream, width=4)
    bar.draw(1, 2, "a long label")
    bar.draw(1, 2, "x")
    first, second = stream.getvalue().split("\r")[1:]
    assert len(second) == len(first) and second.startswith("x [##..] 1/2")


def test_the_bar_writes_nothing_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.draw(1, 2, "task")
    bar.clear()
    assert stream.getvalue() == ""
