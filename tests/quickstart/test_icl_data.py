"""The in-context-learning component: deterministic, and held out from training text."""

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
    # The lookup names of the eval split never occur in training at all.
    for fields in icl_data.instances("lookup", "held_out"):
        assert fields["name"] not in text
    # Held-out category words are stated, but never asked in the Q/A form.
    for fields in icl_data.instances("category", "held_out"):
        assert f"is {fields['word']}?" not in text
        assert f"{fields['word'].capitalize()} is a kind of {fields['category']}." in text


def test_training_episodes_are_laid_out_as_solved_few_shot_prompts():
    documents = icl_data.training_documents(60)
    episodes = [d for d in documents if "->" in d or "Q:" in d]
    train_solved = {f"{e['prompt']} {e['answer']}" for f in icl_data.FAMILIES
                    for e in icl_data.task_examples(f, "train")}
    for episode in episodes:
        shots = episode.split("\n\n")
        assert 2 <= len(shots) <= 8
        for shot in shots:
            if shot.startswith("Colors:"):  # legends are drawn per shot; the name is a train one
                name = shot.split("Q: ")[1].split("?")[0]
                assert not icl_data.is_held_out("lookup", name)
            else:
                assert shot in train_solved, shot


def test_rank_examples_have_four_distinct_candidates_with_the_answer_labelled():
    for family in icl_data.FAMILIES:
        for example in icl_data.task_examples(family, "held_out"):
            candidates = example["candidates"]
            assert len(set(candidates)) == icl_data.NUM_CANDIDATES
            assert candidates[example["label"]] == example["answer"]


def test_lookup_answer_is_the_color_bound_to_the_asked_name_in_the_prompt():
    for example in icl_data.task_examples("lookup", "held_out"):
        legend, question = example["prompt"].split(". Q: ")
        bindings = dict(item.split(" is ") for item in legend[len("Colors: "):].split(", "))
        assert bindings[question[:-len("? A:")]] == example["answer"]
        assert set(example["candidates"]) == set(bindings.values())


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
