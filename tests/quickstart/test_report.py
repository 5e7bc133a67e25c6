"""The quickstart's PNG and report.md, from a synthetic metrics.jsonl."""

import json
import struct

from glam_tf.quickstart import report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _metrics(path, steps=20, layers=2, experts=4):
    with open(path, "w") as f:
        for step in range(1, steps + 1):
            load = [[(e + 1 + layer * step % 3) for e in range(experts)] for layer in range(layers)]
            load = [[x / sum(row) for x in row] for row in load]
            f.write(json.dumps({"step": step, "loss": 5.0 - step / 10, "cross_entropy": 4.9 - step / 10,
                                "learning_rate": 0.01, "tokens_per_second": 100.0,
                                "skipped_steps": 0, "expert_load": load}) + "\n")
            if step % 10 == 0:
                f.write(json.dumps({"step": step, "validation_cross_entropy": 5.0 - step / 8}) + "\n")
    return path


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_moving_average_is_the_mean_of_the_last_window_values():
    from glam_tf.quickstart.report import moving_average

    values = [4.0, 2.0, 6.0, 0.0, 8.0]
    expected = [sum(values[max(0, i - 2):i + 1]) / len(values[max(0, i - 2):i + 1])
                for i in range(len(values))]
    assert moving_average(values, 3) == expected == [4.0, 3.0, 4.0, 8 / 3, 14 / 3]
    assert moving_average(values, 1) == values and moving_average([], 5) == []


def test_read_metrics_separates_training_and_validation_records(tmp_path):
    train, validation = report.read_metrics(_metrics(tmp_path / "metrics.jsonl"))
    assert [r["step"] for r in train] == list(range(1, 21))
    assert [r["step"] for r in validation] == [10, 20]


def test_plot_has_a_panel_per_moe_layer_below_the_loss_panel(tmp_path):
    one = report.plot_training(_metrics(tmp_path / "one.jsonl", layers=1), tmp_path / "one.png")
    three = report.plot_training(_metrics(tmp_path / "three.jsonl", layers=3), tmp_path / "three.png")
    (w1, h1), (w3, h3) = _png_size(one), _png_size(three)
    assert w1 == w3 and w1 >= 600
    assert h3 > h1 > 300  # taller by two more expert-load panels


def test_plot_of_records_without_expert_load_still_draws_the_losses(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.loads(line) for line in _metrics(path).read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "expert_load"}) + "\n"
                            for r in lines))
    assert _png_size(report.plot_training(path, tmp_path / "plot.png"))[1] > 0


def test_report_holds_settings_losses_scores_against_chance_samples_and_the_png(tmp_path):
    results = [{"task": "quickstart/lookup", "category": "custom", "kind": "rank", "shots": k,
                "seed": 0, "num_examples": 10, "metrics": {"accuracy": value},
                "shots_dropped": 0} for k, value in ((0, 0.5), (4, 0.875))]
    path = report.write_report(
        tmp_path / "report.md",
        settings={"preset": "glam_tiny", "parameters": "3.02M", "activated": "1.45M",
                  "data": "mix:embedded=1,files:x.jsonl=2", "batch_size": 8, "seq_len": 128,
                  "vocab_size": 2048},
        training={"steps": 1500, "target_steps": 2000, "seconds": 301.0, "stopped_early": True},
        losses={"train": 2.5, "validation": 2.75},
        eval_results={"results": results, "chance": {"quickstart/lookup": 0.25}},
        samples=[("a b c ->", " d")], png_name="training.png", export_path="/x/export/glam/1")
    text = path.read_text()
    assert "glam_tiny" in text and "3.02M" in text and "1500 steps of 2000" in text
    assert "stopped by the time budget" in text and "301 s" in text
    assert "train cross-entropy 2.500" in text and "validation cross-entropy 2.750" in text
    assert "| quickstart/lookup | accuracy | 25.0 | 50.0 | 87.5 |" in text
    assert "Overall (1)" in text  # the evaluator's own table
    assert "![loss curves and per-expert load](training.png)" in text
    assert "a b c ->⟨ d⟩" in text and "/x/export/glam/1" in text
