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
    for fields in icl_data.instances("lookup", "held_out"):
        assert fields["name"] not in numbers
    # Held-out category words are stated, but never asked in the Q/A form.
    for fields in icl_data.instances("category", "held_out"):
        assert f"is {fields['word']}?" not in text
        assert f"{fields['word'].capitalize()} is a kind of {fields['category']}." in text


def test_training_episodes_are_laid_out_as_solved_few_shot_prompts():
    documents = icl_data.training_documents(60)
    episodes = [d for d in documents if "->" in d or "Q:" in d or d.startswith("Colors:")]
    assert sum(d.startswith("Colors:") for d in episodes) == len(episodes) // 2
    train_solved = {f"{e['prompt']} {e['answer']}" for f in icl_data.FAMILIES
                    for e in icl_data.task_examples(f, "train")}
    for episode in episodes:
        shots = episode.split("\n\n")
        assert 2 <= len(shots) <= 8
        for shot in shots:
            if shot.startswith("Colors:"):  # legends are drawn per shot; the names are train ones
                legend, query = shot.split(". So ")
                assert query in legend.split(": ")[1].split(", "), shot
                for name in re.findall(r"\d+", shot):
                    assert not icl_data.is_held_out("lookup", name), shot
            else:
                assert shot in train_solved, shot


def test_rank_examples_have_four_distinct_candidates_with_the_answer_labelled():
    for family in icl_data.FAMILIES:
        for example in icl_data.task_examples(family, "held_out"):
            candidates = example["candidates"]
            assert len(set(candidates)) == icl_data.NUM_CANDIDATES
            assert candidates[example["label"]] == example["answer"]


def test_lookup_query_repeats_the_legends_name_is_and_the_answer_follows_it_there():
    for example in icl_data.task_examples("lookup", "held_out"):
        legend, question = example["prompt"].split(". So ")
        bindings = dict(item.split(" is ") for item in legend[len("Colors: "):].split(", "))
        assert len(bindings) == icl_data.LOOKUP_BINDINGS
        assert question.endswith(" is") and bindings[question[:-len(" is")]] == example["answer"]
        # An exact induction pattern: the prompt's last words occur once before, then the answer.
        assert example["prompt"].count(question) == 2
        assert f"{question} {example['answer']}" in legend
        assert set(example["candidates"]) == set(bindings.values())


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
        for fields in icl_data.instances("lookup", split)[::icl_data.LOOKUP_DRAWS]:
            name = fields["name"]
            pieces = sp.encode(f"Colors: {name} is red. So {name} is", out_type=str)
            assert pieces.count(name[0]) + pieces.count("▁" + name[0]) >= 2, pieces
            assert all(len(p.lstrip("▁")) <= 1 for p in pieces if any(c.isdigit() for c in p))


def test_quickstart_tasks_read_the_held_out_split_and_draw_shots_from_train():
    for task in tasks.quickstart_tasks():
        evaluated = list(task.eval_examples())
        shots = list(task.few_shot_examples())
        assert evaluated and shots
        assert not {e.prompt for e in evaluated} & {s.prompt for s in shots}, task.name
    levels = tasks.chance_levels()
    assert set(levels) == set(tasks.TASK_NAMES)
    assert levels["quickstart/lookup"] == 1 / icl_data.NUM_CANDIDATES
    assert 0 < levels["quickstart/successor_gen"] < levels["quickstart/successor"]
