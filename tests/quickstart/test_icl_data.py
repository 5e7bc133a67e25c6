"""The in-context-learning component: deterministic, and held out from training text."""

import re

from glam_tf.quickstart import icl_data, tasks


def test_training_documents_and_task_examples_are_the_same_on_every_call():
    assert icl_data.training_documents(300) == icl_data.training_documents(300)
    for family in icl_data.FAMILIES:
        assert icl_data.task_examples(family, "held_out") == icl_data.task_examples(
            family, "held_out")
    assert icl_data.training_documents(300, seed=1) != icl_data.training_documents(300)


def test_every_family_holds_out_some_instances_and_trains_on_the_rest():
    for family in icl_data.FAMILIES:
        train, held_out = (icl_data.instances(family, s) for s in ("train", "held_out"))
        assert len(held_out) >= 15 and len(train) > len(held_out), family
        assert not {repr(sorted(i.items())) for i in train} & {
            repr(sorted(i.items())) for i in held_out}, family


def test_no_held_out_example_appears_in_the_training_text():
    documents = icl_data.training_documents()
    lines = set(icl_data.iter_lines(documents))
    text = "\n".join(documents)
    for family in icl_data.FAMILIES:
        for example in icl_data.task_examples(family, "held_out"):
            assert f"{example['prompt']} {example['answer']}" not in lines, example
    # The lookup names of the eval split never occur in training at all (the
    # only numbers of the component are lookup names).
    numbers = set(re.findall(r"\d+", text))
    assert numbers and numbers <= set(icl_data.LOOKUP_NAMES)
    held_out_names = {n for g in icl_data.lookup_groups("held_out") for n in g["names"]}
    assert len(held_out_names) >= 20 and not held_out_names & numbers
    # Held-out category words are stated, but never asked in the Q/A form.
    for fields in icl_data.instances("category", "held_out"):
        assert f"is {fields['word']}?" not in text
        assert f"{fields['word'].capitalize()} is a kind of {fields['category']}." in text


def test_training_episodes_are_laid_out_as_solved_few_shot_prompts():
    documents = icl_data.training_documents(60)
    episodes = [d for d in documents if "->" in d or "Q:" in d or d.startswith("Color ")]
    assert sum(d.startswith("Color ") for d in episodes) == len(episodes) // 2
    train_solved = {f"{e['prompt']} {e['answer']}" for f in icl_data.FAMILIES
                    for e in icl_data.task_examples(f, "train")}
    for episode in episodes:
        shots = episode.split("\n\n")
        if episode.startswith("Color "):
            # One group of train names: a name keeps its color within the episode, and
            # its repeats are what the model can copy.
            low, high = icl_data.LOOKUP_EPISODE_LINES
            assert low <= len(shots) <= high
            bindings = {}
            for shot in shots:
                _, name, color = shot.split(" ")
                assert bindings.setdefault(name, color) == color, episode
                assert not icl_data.is_held_out("lookup", name)
            assert len(bindings) <= icl_data.LOOKUP_BINDINGS
            assert len(set(bindings.values())) == len(bindings)
        else:
            assert 2 <= len(shots) <= 8
        for shot in shots:
            assert shot in train_solved, shot


def test_rank_examples_have_four_distinct_candidates_with_the_answer_labelled():
    for family in icl_data.FAMILIES:
        for example in icl_data.task_examples(family, "held_out"):
            candidates = example["candidates"]
            assert len(set(candidates)) == icl_data.NUM_CANDIDATES
            assert candidates[example["label"]] == example["answer"]


def test_a_lookup_query_alone_holds_no_binding_so_0_shot_is_chance_by_construction():
    examples = icl_data.task_examples("lookup", "held_out")
    assert len(examples) == icl_data.LOOKUP_GROUPS * icl_data.LOOKUP_BINDINGS
    groups = {g["group"]: g for g in icl_data.lookup_groups("held_out")}
    colors_of_name = {}
    for example in examples:
        group = groups[example["group"]]
        name = example["prompt"].removeprefix("Color ")
        assert example["prompt"] == f"Color {name}" and name in group["names"]
        # The candidates are the group's four colors, freshly drawn per group, and its
        # names share no digit (one digit finds the binding).
        assert sorted(example["candidates"]) == sorted(group["colors"])
        assert all(not set(a) & set(b) for i, a in enumerate(group["names"])
                   for b in group["names"][i + 1:])
        colors_of_name.setdefault(name, set()).add(example["answer"])
    # A name is bound to different colors in different groups: nothing to memorize.
    assert sum(len(c) > 1 for c in colors_of_name.values()) > len(colors_of_name) // 2
    # The gold candidate's position is spread over all four.
    labels = [e["label"] for e in examples]
    assert all(labels.count(i) >= len(labels) // 8 for i in range(icl_data.NUM_CANDIDATES))


def test_lookup_shots_are_the_queried_groups_bindings_and_4_shots_hold_all_of_them():
    from glam_tf.evaluation.evaluator import build_prompts

    task = {t.name: t for t in tasks.quickstart_tasks()}["quickstart/lookup"]
    examples = list(task.eval_examples())
    bindings = {(g["group"], n): c for g in icl_data.lookup_groups("held_out")
                for n, c in zip(g["names"], g["colors"])}
    for shots in (1, 4):
        prompted, _, used, _ = build_prompts(task, examples, shots, seed=0)
        assert used == [shots] * len(examples)
        holds_answer = 0
        for example, prompt in zip(examples, prompted):
            *demos, query = prompt.prompt.split("\n\n")
            assert query == example.prompt and len(demos) == shots
            for demo in demos:
                _, name, color = demo.split(" ")
                assert bindings[(example.demo_group, name)] == color
            answer = example.candidates[example.label]
            holds_answer += f"{example.prompt}{answer}" in demos
        if shots == 4:
            assert holds_answer == len(examples)
        else:  # one of the group's four bindings: the queried one about a quarter of the time
            assert len(examples) // 8 < holds_answer < len(examples) // 2


def test_train_and_held_out_lookup_names_are_tokenized_alike(tmp_path):
    """Names are numbers, which the project's tokenizer always splits into digits.

    Made-up words were not: trained names occur so often that they became single
    pieces, while held-out ones, never seen, were split into letters.
    """
    import sentencepiece as spm

    from glam_tf.tokenizer import train_tokenizer

    documents = icl_data.training_documents(3000)
    path = train_tokenizer(documents, 400, tmp_path)
    sp = spm.SentencePieceProcessor(model_file=path)
    for split in ("train", "held_out"):
        for group in icl_data.lookup_groups(split)[:40]:
            name = group["names"][0]
            pieces = sp.encode(f"Color {name} red\n\nColor {name}", out_type=str)
            assert pieces.count(name[0]) + pieces.count("▁" + name[0]) >= 2, pieces
            assert all(len(p.lstrip("▁")) <= 1 for p in pieces if any(c.isdigit() for c in p))


def test_quickstart_tasks_read_the_held_out_split_and_draw_shots_from_train():
    for task in tasks.quickstart_tasks():
        evaluated = list(task.eval_examples())
        shots = list(task.few_shot_examples())
        assert evaluated and shots
        if task.name == "quickstart/lookup":  # its shots are its groups' own bindings
            assert shots == evaluated and all(e.demo_group for e in evaluated)
        else:
            assert not {e.prompt for e in evaluated} & {s.prompt for s in shots}, task.name
    levels = tasks.chance_levels()
    assert set(levels) == set(tasks.TASK_NAMES)
    assert levels["quickstart/lookup"] == 1 / icl_data.NUM_CANDIDATES
    assert 0 < levels["quickstart/successor_gen"] < levels["quickstart/successor"]
