"""The `glam` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from glam_tf import fileio, quiet
from glam_tf.axes import DEFAULT_LAYOUT, ShardingError, rules_for
from glam_tf.params import count_parameters, format_count
from glam_tf.presets import PAPER_NAMES, PRESETS


def presets_table(mesh=None, layout=None) -> str:
    """Every preset as a fixed-width table, with the paper's counts beside ours.

    With a mesh, a column gives each device's GiB of weights, gradients and
    Adafactor state under that mesh and layout ("-" where a weight does not
    divide; the reasons follow the table).
    """
    from glam_tf import plan

    header = ("preset", "paper", "layers", "d_model", "d_ff", "heads", "experts",
              "total", "activated", "paper total", "paper activated")
    if mesh:
        # A bad mesh or rule is one error, not one per preset; what stays is per preset.
        rules_for(layout, tuple(plan.mesh_sizes(mesh)))
        header += ("GiB/device",)
    rows, refused = [header], []
    for name, c in PRESETS.items():
        count = count_parameters(c)
        paper, paper_total, paper_activated = PAPER_NAMES.get(name, ("-", "-", "-"))
        row = (name, paper, str(c.num_layers), str(c.d_model), str(c.d_ff),
               str(c.num_heads), str(c.num_experts or "-"), format_count(count.total),
               format_count(count.activated), paper_total, paper_activated)
        if mesh:
            try:
                row += (f"{plan.memory_per_device(c, mesh, layout)['total'] / 2 ** 30:.1f}",)
            except ShardingError as error:  # a weight the mesh does not divide
                row += ("-",)
                refused.append(f"{name}: {error}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if refused:
        lines += ["", f"Not laid out on {mesh}:"] + [f"  {line}" for line in refused]
    return "\n".join(lines)


def _presets(args) -> int:
    print(presets_table(args.mesh, args.layout))
    print("\nCounts include the token embedding (256K vocabulary, tied with the softmax);"
          "\nsee docs/parameters.md for how they compare with the paper's.")
    return 0


def _config_from_args(args):
    from glam_tf.presets import get_preset
    return get_preset(args.preset).override(args.set or [])


def _sharding_from_args(args, config):
    """A Sharding for --mesh/--tpu (None without them); virtual devices first."""
    from glam_tf import sharding

    if args.virtual_devices < 0:
        raise ValueError(f"--virtual_devices {args.virtual_devices}: must be an integer >= 1 "
                         "(leave it out for the CPU as one device)")
    if args.virtual_devices:
        sharding.configure_virtual_devices(args.virtual_devices)
    if not (args.mesh or args.tpu is not None):
        if args.layout:
            raise ValueError("--layout needs --mesh")
        return None
    try:
        mesh = sharding.make_mesh(args.mesh or "auto", tpu=args.tpu, config=config)
    except ValueError:  # a mesh spec or size error: already one line
        raise
    except Exception as error:  # noqa: BLE001 (TF's and the resolver's many kinds)
        if args.tpu is None:
            raise
        reason = (getattr(error, "message", None) or str(error)).strip().splitlines()
        raise ValueError(f"--tpu {args.tpu or '(this VM)'}: no TPU reachable "
                         f"({reason[0][:200] if reason else type(error).__name__})") from None
    return sharding.Sharding(mesh, rules_for(args.layout, mesh.dim_names))


def _dry_run(args, config) -> int:
    """Checks the layout and prints each device's memory; no TensorFlow, no devices."""
    from glam_tf import plan

    if args.mesh == "auto":
        raise ValueError("--dry_run needs an explicit --mesh, e.g. batch:64,expert:64 "
                         "(auto depends on the devices, which a dry run does not use)")
    device_memory = plan.parse_memory(args.device_memory) if args.device_memory else None
    memory = plan.plan_training(config, args.mesh, args.layout, args.optimizer,
                                args.batch_size, args.seq_len)
    title = f"{args.preset} ({format_count(count_parameters(config).total)} parameters)"
    lines, fits = plan.format_plan(memory, title, config.compute_dtype, device_memory)
    print("\n".join(lines))
    return 0 if fits else 1


def _positive_int(flag: str, text: str) -> int:
    """An integer >= 1 from a flag's text; a ValueError (one line, no usage block) naming both."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{flag} {text!r}: must be an integer >= 1")
    return value


def _check_at_least(low: int, **flags) -> None:
    """Each given int flag (None: left out) is >= low; a ValueError naming the first that is not."""
    for name, value in flags.items():
        if value is not None and value < low:
            raise ValueError(f"--{name} {value}: must be an integer >= {low}")


def _train(args) -> int:
    config = _config_from_args(args)
    if args.dry_run:
        return _dry_run(args, config)
    if args.device_memory:
        raise ValueError("--device_memory needs --dry_run")
    missing = [flag for flag, value in (("--model_dir", args.model_dir),
                                        ("--steps", args.steps)) if value is None]
    if missing:
        raise ValueError(f"{' and '.join(missing)} required (only --dry_run runs without)")

    import dataclasses

    from glam_tf.plan import BATCH_MULTIPLE, default_batch_size
    from glam_tf.training.command import run_train
    from glam_tf.training.run_config import TrainConfig

    # Every flag is checked before any device is touched (a TPU connected, CPUs split).
    train_config = TrainConfig(
        steps=args.steps, batch_size=BATCH_MULTIPLE if args.batch_size is None else args.batch_size,
        seq_len=config.max_seq_len if args.seq_len is None else args.seq_len,
        data=args.data, seed=args.seed, peak_learning_rate=args.learning_rate,
        constant_steps=args.constant_steps, warmup_steps=args.warmup_steps,
        checkpoint_every=args.checkpoint_every, log_every=args.log_every,
        eval_every=args.eval_every, dispatch=args.dispatch, optimizer=args.optimizer,
        jit_compile=args.jit_compile,
        steps_per_loop=_positive_int("--steps_per_loop", args.steps_per_loop))
    mesh_sharding = _sharding_from_args(args, config)
    if args.batch_size is None and mesh_sharding:  # as the dry run picks it: rows for every
        mesh = mesh_sharding.mesh                  # batch shard
        sizes = {axis: mesh.dim_size(axis) for axis in mesh.dim_names}
        train_config = dataclasses.replace(
            train_config, batch_size=default_batch_size(sizes, mesh_sharding.rules))
    run_train(args.model_dir, config, train_config, tokenizer_path=args.tokenizer,
              sharding=mesh_sharding)
    return 0


def _tokenizer_train(args) -> int:
    import itertools

    from glam_tf.data import parse_data_spec
    from glam_tf.tokenizer import train_tokenizer

    _check_at_least(1, max_documents=args.max_documents)
    source = parse_data_spec(args.input)
    texts = (t.decode("utf-8") for t in itertools.islice(
        source.documents("train").as_numpy_iterator(), args.max_documents))
    print(train_tokenizer(texts, args.vocab_size, args.output, model_type=args.model_type))
    return 0


def _quality_train(args) -> int:
    from glam_tf.data.quality_files import train_from_files

    report = train_from_files(args.positive, args.negative, args.output)
    print(report)
    return 0


def _quality_score(args) -> int:
    from glam_tf.data.quality_files import score_files

    score_files(args.classifier, args.input, args.output)
    print(args.output)
    return 0


def _export(args) -> int:
    from glam_tf.export import export_model

    print(export_model(args.model_dir, args.export_base, args.name, version=args.version,
                       max_batch=args.max_batch, max_new_tokens=args.max_new_tokens,
                       server_base=args.server_base))
    return 0


def _parse_shots(text):
    try:
        shots = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--shots {text!r}: give comma-separated ints, e.g. 0,1,8") from None
    if not shots or min(shots) < 0:
        raise ValueError(f"--shots {text!r}: give comma-separated ints >= 0, e.g. 0,1,8")
    return shots


def _load_user_tasks(args):
    from glam_tf.tasks import load_tasks_module
    from glam_tf.tasks.user_tasks import register_task_file

    for path in args.tasks_module or []:
        load_tasks_module(path)
    for path in args.task_file or []:
        register_task_file(path)


def _eval(args) -> int:
    import json

    from glam_tf.evaluation import backends
    from glam_tf.evaluation.evaluator import evaluate_all, format_table, scored
    from glam_tf.progress import ProgressBar
    from glam_tf.tasks import select

    shots = _parse_shots(args.shots)
    _check_at_least(1, batch_size=args.batch_size, max_examples=args.max_examples)
    _check_at_least(0, seed=args.seed)  # the shots' draw takes a non-negative seed
    _check_at_least(2, max_length=args.max_length)  # a prompt token and one to score
    if args.serving_url and not args.serving_url.startswith(("http://", "https://")):
        raise ValueError(f"--serving_url {args.serving_url}: give an http:// or https:// URL, "
                         "e.g. http://localhost:8501")
    if args.output:
        _check_output(args.output)
    _load_user_tasks(args)
    tasks = select(args.tasks)
    chosen = [name for name, value in (("--model_dir", args.model_dir),
                                       ("--saved_model", args.saved_model),
                                       ("--serving_url", args.serving_url)) if value]
    if len(chosen) != 1:
        raise ValueError("give exactly one of --model_dir, --saved_model, --serving_url")
    if not args.model_dir and args.max_length is None:
        # The SavedModel does not say its max_seq_len; without it a too-long example
        # would reach the model and fail the whole run.
        raise ValueError(f"{chosen[0]} needs --max_length (the model's max_seq_len)")
    if args.model_dir and args.max_length is not None:
        raise ValueError("--max_length is for --saved_model/--serving_url; --model_dir "
                         "reads max_seq_len from the model's config")
    paper = None
    if args.compare is not None:
        if args.compare != "paper":
            raise ValueError(f"--compare {args.compare!r}: the only comparison is 'paper'")
        from glam_tf.evaluation.paper import load_paper_results

        paper = load_paper_results()
    if args.model_dir:
        backend = backends.ModelDirBackend(args.model_dir, batch_size=args.batch_size,
                                           beam=args.beam)
    elif args.saved_model:
        backend = backends.SavedModelBackend(args.saved_model, batch_size=args.batch_size,
                                             max_length=args.max_length, beam=args.beam)
    else:
        if not args.model_name:
            raise ValueError("--serving_url needs --model_name")
        # Without a tokenizer, prompts cannot be fitted nor over-long examples skipped.
        if not args.tokenizer:
            raise ValueError("--serving_url needs --tokenizer (the export's "
                             "assets/tokenizer.model) to fit prompts to --max_length")
        if not fileio.isfile(args.tokenizer):
            raise ValueError(f"--tokenizer {args.tokenizer}: no such file")
        backend = backends.RestBackend(args.serving_url, args.model_name,
                                       batch_size=args.batch_size, max_length=args.max_length,
                                       beam=args.beam, tokenizer_path=args.tokenizer)
    results = evaluate_all(tasks, backend, shots, seed=args.seed, max_examples=args.max_examples,
                           log=lambda line: print(line, file=sys.stderr), bar=ProgressBar())
    unscored = [r for r in results if not scored(r)]
    print(format_table(results, paper=paper))
    if args.output:
        kept = results if args.predictions else [
            {k: v for k, v in r.items() if k != "predictions"} for r in results]
        # Written whole or not at all: a failure leaves an earlier file untouched.
        fileio.write_atomic(args.output, json.dumps(
            {"shots": shots, "seed": args.seed, "tasks": [t.name for t in tasks],
             "complete": not unscored, "results": kept}, indent=2))
        print(f"\nwrote {args.output}")
    if unscored:
        # The other tasks' scores are printed and written; the run is still incomplete.
        print(f"glam eval: incomplete: {len(unscored)} of {len(results)} task and shot "
              "results have no score (n/a in the table)", file=sys.stderr)
        return 1
    return 0


def _check_output(output):
    """Refuses an --output nobody can write before anything is evaluated."""
    parent = os.path.dirname(fileio.absolute(output))
    # A local parent must exist (as for any file); gs:// has no directories to create.
    if not (fileio.is_remote(output) or fileio.isdir(parent)):
        raise ValueError(f"--output {output}: cannot write into {parent}")
    try:
        fileio.check_writable(parent)
    except OSError as error:
        raise ValueError(f"--output {output}: cannot write into {parent} "
                         f"({error.strerror or error})") from None


def _quickstart(args) -> int:
    from glam_tf.quickstart.run import run_quickstart

    run_quickstart(args.workdir, minutes=args.minutes, steps=args.steps,
                   max_examples=args.max_examples)
    return 0


def _tasks(args) -> int:
    from glam_tf.tasks import REGISTRY

    _load_user_tasks(args)
    rows = [("name", "category", "kind", "metrics", "normalization", "source", "splits")]
    for task in REGISTRY:
        splits = task.eval_split + (f" (shots: {task.few_shot_split})" if task.few_shot_split
                                    else " (zero-shot only)")
        normalization = task.normalization or "-"
        if task.unconditional_context is not None:
            normalization += f" ({task.unconditional_context!r})"
        rows.append((task.name, task.category, task.kind, ",".join(task.metrics), normalization,
                     task.source.describe(), splits))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(lines))
    print(f"\n{len(rows) - 1} tasks")
    return 0


class _NegativeNumber:
    """What argparse takes for a negative number rather than an option: anything
    float() reads (its own pattern misses -inf, -nan and -1e5, which then gave
    "expected one argument" instead of the flag's range check)."""

    @staticmethod
    def match(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return text.startswith("-")


class _Parser(argparse.ArgumentParser):
    """argparse with any number, negative ones included, read as a flag's value; its
    subcommands' parsers are of this class too (add_subparsers uses the parent's)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NegativeNumber()

    def error(self, message):
        """One line, like every other refusal (argparse's own prints its usage block first)."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _StderrHandler(logging.Handler):
    """glam_tf's log lines on sys.stderr as it is at each line (not as it was when
    main() first ran)."""

    def emit(self, record):
        print(self.format(record), file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="glam", description="GLaM: sparse Mixture-of-Experts language models on TensorFlow.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    presets = commands.add_parser("presets", help="list the model presets and their sizes")
    presets.add_argument("--mesh", help="add each device's memory on this mesh, "
                                        "e.g. batch:1,expert:64,model:16")
    presets.add_argument("--layout", help="layout rules for --mesh (default: the standard ones)")
    presets.set_defaults(run=_presets)

    train = commands.add_parser("train", help="train a model (resumes in an existing model dir)")
    train.add_argument("--preset", default="glam_tiny", help="a name from `glam presets`")
    train.add_argument("--model_dir", help="where the run lives (required unless --dry_run)")
    train.add_argument("--steps", type=int, help="steps to train to (required unless --dry_run)")
    train.add_argument("--batch_size", type=int,
                       help="rows per step (default: 8, or the smallest multiple of 8 that "
                            "the mesh's batch axis divides)")
    train.add_argument("--seq_len", type=int, help="tokens per row (default: max_seq_len)")
    train.add_argument("--data", default="embedded",
                       help="embedded | files:PATTERN[:field] | tfds:NAME[:split[:field]] | "
                            "mix:SPEC=WEIGHT,... | glam (see docs/training.md)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a GlamConfig field (repeatable)")
    train.add_argument("--tokenizer", help="a tokenizer.model to use instead of training one")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--learning_rate", type=float, default=0.01)
    train.add_argument("--constant_steps", type=int, default=10_000,
                       help="steps at the peak rate before 1/sqrt decay")
    train.add_argument("--warmup_steps", type=int, default=0)
    train.add_argument("--checkpoint_every", type=int, default=100)
    train.add_argument("--log_every", type=int, default=10)
    train.add_argument("--eval_every", type=int, default=100)
    train.add_argument("--dispatch", choices=("auto", "gather", "einsum"), default="auto",
                       help="MoE dispatch: auto = gather on one device, einsum on a mesh")
    train.add_argument("--optimizer", choices=("adafactor", "adam"), default="adafactor")
    train.add_argument("--jit_compile", action="store_true",
                       help="compile the train and eval steps with XLA (docs/training.md)")
    train.add_argument("--steps_per_loop", default="1", metavar="N",
                       help="run N steps per call, so the host waits once per N steps; "
                            "log lines are kept per step (docs/training.md)")
    train.add_argument("--mesh", help="DTensor mesh, e.g. batch:2,expert:4, or auto: experts "
                                      "over as many devices as divide them (docs/sharding.md)")
    train.add_argument("--layout", help="logical:mesh axis rules, e.g. "
                                        "batch:batch,expert:expert,mlp:model "
                                        f"(default: {DEFAULT_LAYOUT} where the mesh has the axis)")
    train.add_argument("--virtual_devices", type=int, default=0,
                       help="split the CPU into N logical devices (development and tests)")
    train.add_argument("--tpu", nargs="?", const="", default=None,
                       help="run on a Cloud TPU (name or address; empty on a TPU VM)")
    train.add_argument("--dry_run", action="store_true",
                       help="check the layout against every weight and print each device's "
                            "memory, then exit: no devices, nothing written (exit 1 if it "
                            "does not fit --device_memory)")
    train.add_argument("--device_memory", metavar="SIZE",
                       help="--dry_run: each device's memory, e.g. 32GiB or 34GB")
    train.set_defaults(run=_train)

    export = commands.add_parser("export", help="export a trained model for TF Serving "
                                                "(docs/serving.md)")
    export.add_argument("--model_dir", required=True, help="a glam train model directory")
    export.add_argument("--export_base", required=True,
                        help="writes EXPORT_BASE/NAME/VERSION/ and EXPORT_BASE/models.config")
    export.add_argument("--name", required=True, help="the model name the server serves it as")
    export.add_argument("--version", type=int, help="default: 1 + the largest existing version")
    export.add_argument("--max_batch", type=int, default=64, help="most prompts per request")
    export.add_argument("--max_new_tokens", type=int,
                        help="most tokens a request may generate, and the default "
                             "(default: 256, at most max_seq_len // 2)")
    export.add_argument("--server_base", default="/models",
                        help="EXPORT_BASE as the server sees it, for models.config")
    export.set_defaults(run=_export)

    evaluate = commands.add_parser("eval", help="few-shot evaluation on tasks (glam tasks)")
    where = evaluate.add_argument_group("model (give one)")
    where.add_argument("--model_dir", help="a glam train model directory (in process)")
    where.add_argument("--saved_model", help="a glam export version directory")
    where.add_argument("--serving_url", help="TF Serving REST base URL, e.g. http://host:8501")
    where.add_argument("--model_name", help="the served model's name (with --serving_url)")
    where.add_argument("--tokenizer", help="--serving_url (required there): the export's "
                                           "assets/tokenizer.model, to count tokens when "
                                           "fitting prompts")
    evaluate.add_argument("--tasks", required=True,
                          help="task names, 'all' or 'category:NAME', comma-separated")
    evaluate.add_argument("--shots", default="0", help="shot counts, e.g. 0,1,8 (default 0)")
    evaluate.add_argument("--max_examples", type=int, help="score the first N examples only")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the shots drawn")
    evaluate.add_argument("--beam", action="store_true",
                          help="decode generation tasks with beam search of width 4, as the "
                               "paper does (default: greedy)")
    evaluate.add_argument("--batch_size", type=int, default=8,
                          help="rows per model call (<= the export's --max_batch)")
    evaluate.add_argument("--max_length", type=int,
                          help="--saved_model/--serving_url (required there): the model's "
                               "max_seq_len, to fit prompts (dropping shots, skipping and "
                               "counting examples that cannot fit)")
    evaluate.add_argument("--compare", metavar="paper",
                          help="'paper': print the published GLaM and GPT-3 scores beside "
                               "the model's (docs/evaluation.md)")
    evaluate.add_argument("--output", help="write the results as JSON here")
    evaluate.add_argument("--predictions", action="store_true",
                          help="include every example's prediction in --output")
    evaluate.add_argument("--tasks_module", action="append", metavar="PATH",
                          help="a Python file registering tasks (repeatable)")
    evaluate.add_argument("--task_file", action="append", metavar="PATH",
                          help="a JSON/YAML task file (repeatable)")
    evaluate.set_defaults(run=_eval)

    quickstart = commands.add_parser(
        "quickstart", help="tokenizer, training, few-shot eval, export and a report in one "
                           "run (docs/quickstart.md)")
    quickstart.add_argument("--workdir", default="glam_quickstart",
                            help="where everything goes; a rerun reuses what is there "
                                 "(default: ./glam_quickstart)")
    quickstart.add_argument("--minutes", type=float, default=5.0,
                            help="training time budget in minutes (default 5)")
    # For tests and short demos: a step target and fewer eval examples.
    quickstart.add_argument("--steps", type=int, default=2000, help=argparse.SUPPRESS)
    quickstart.add_argument("--max_examples", type=int, help=argparse.SUPPRESS)
    quickstart.set_defaults(run=_quickstart)

    tasks = commands.add_parser("tasks", help="list the evaluation tasks")
    tasks.add_argument("--tasks_module", action="append", metavar="PATH",
                       help="also list the tasks a Python file registers (repeatable)")
    tasks.add_argument("--task_file", action="append", metavar="PATH",
                       help="also list a JSON/YAML task file's task (repeatable)")
    tasks.set_defaults(run=_tasks)

    tokenizer = commands.add_parser("tokenizer", help="SentencePiece tokenizers")
    tokenizer_commands = tokenizer.add_subparsers(dest="tokenizer_command", required=True)
    tok_train = tokenizer_commands.add_parser("train", help="train a SentencePiece model")
    tok_train.add_argument("--input", default="embedded", help="a --data spec")
    tok_train.add_argument("--vocab_size", type=int, required=True)
    tok_train.add_argument("--output", required=True, help="directory for tokenizer.model")
    tok_train.add_argument("--model_type", choices=("unigram", "bpe"), default="unigram")
    tok_train.add_argument("--max_documents", type=int, default=50_000)
    tok_train.set_defaults(run=_tokenizer_train)

    quality = commands.add_parser("quality", help="the data quality classifier")
    quality_commands = quality.add_subparsers(dest="quality_command", required=True)
    q_train = quality_commands.add_parser("train", help="train on curated vs web text")
    q_train.add_argument("--positive", required=True, help="glob of curated .txt/.jsonl files")
    q_train.add_argument("--negative", required=True, help="glob of web .txt/.jsonl files")
    q_train.add_argument("--output", required=True, help="directory for the classifier")
    q_train.set_defaults(run=_quality_train)
    q_score = quality_commands.add_parser("score", help="score documents")
    q_score.add_argument("--classifier", required=True)
    q_score.add_argument("--input", required=True, help="glob of .txt/.jsonl files")
    q_score.add_argument("--output", required=True, help="JSONL of scores")
    q_score.set_defaults(run=_quality_score)
    _add_verbose_flag(parser)
    return parser


def _add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """Gives every leaf command `--verbose` (on a parent, a leaf's default would win)."""
    children = [action.choices for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)]
    if not children:
        parser.add_argument("--verbose", action="store_true",
                            help="show TensorFlow's and SentencePiece's start-up logs "
                                 f"(or set {quiet.VERBOSE_ENV}=1)")
    for choices in children:
        for child in choices.values():
            _add_verbose_flag(child)


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a flag argparse refuses (2, its one line)
        return stop.code
    quiet.quiet_startup(args.verbose)  # before anything imports TensorFlow
    # glam_tf's own INFO lines (e.g. what a quality filter kept) reach the user, once
    # each however often main() runs in a process.
    logger = logging.getLogger("glam_tf")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return args.run(args)
    except (ValueError, KeyError, OSError) as error:
        # (ShardingError, ConfigError, DataError, ModelDirError and CheckpointError
        # are ValueErrors.) Bad input: say what is wrong and where, without a traceback.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        if isinstance(error, OSError) and error.filename and error.strerror:
            message = f"{error.filename}: {error.strerror}"
        print(f"glam {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
