"""The `glam` command line."""

from __future__ import annotations

import argparse
import sys

from glam_tf.params import count_parameters, format_count
from glam_tf.presets import PAPER_NAMES, PRESETS


def presets_table() -> str:
    """Every preset as a fixed-width table, with the paper's counts beside ours."""
    header = ("preset", "paper", "layers", "d_model", "d_ff", "heads", "experts",
              "total", "activated", "paper total", "paper activated")
    rows = [header]
    for name, c in PRESETS.items():
        count = count_parameters(c)
        paper, paper_total, paper_activated = PAPER_NAMES.get(name, ("-", "-", "-"))
        rows.append((name, paper, str(c.num_layers), str(c.d_model), str(c.d_ff),
                     str(c.num_heads), str(c.num_experts or "-"), format_count(count.total),
                     format_count(count.activated), paper_total, paper_activated))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _presets(args) -> int:
    print(presets_table())
    print("\nCounts include the token embedding (256K vocabulary, tied with the softmax);"
          "\nsee docs/parameters.md for how they compare with the paper's.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glam", description="GLaM: sparse Mixture-of-Experts language models on TensorFlow.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    presets = commands.add_parser("presets", help="list the model presets and their sizes")
    presets.set_defaults(run=_presets)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
