"""Generation metrics: batched greedy generation under per-row edits, answer matching, locality, leaks,
degeneration (issue #13). Tiny random models; their weights are perturbed so continuations vary."""
import copy

import pytest
import torch

from instructedit.data.records import EditRecord, Probe
from instructedit.editor.edit import Edit, EditFactor
from instructedit.editor.batched_generation import (
    continue_ids,
    generate_batch,
    generate_ids_batch,
)
from instructedit.editor.hooks import active_edit
from instructedit.evaluation.generation import greedy_continuation
from instructedit.evaluation.answers import count_answer, count_leaks, is_leak, normalise, starts_with_answer
from instructedit.evaluation.degeneration import (
    fluency_ratio,
    has_character_loop,
    has_word_run,
    is_degenerate,
    repetition_rate,
    rescore_degeneration,
)
from instructedit.evaluation.generation_metrics import (
    AnswerPrompt,
    GenerationProbes,
    GenerationSettings,
    LocalityPrompt,
    answer_token_count,
    generation_scores,
    probes_from_example,
)
from instructedit.instructions import Instruction
from instructedit.models import editable_weight_names, families
from instructedit.prompts import build_example

PROMPTS = ["The capital of France is", "Tokyo is in", "I love",
           "Task: CounterFact\nDescription: Edit the fact.\nInput: Danielle Darrieux's mother tongue is",
           "The winner of the 2024 race was", "Rome"]


def perturbed(model):
    """A copy of a tiny model with noise added, so that greedy continuations are not one repeated token."""
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.1)
    return model


@pytest.fixture(scope="module")
def varied(tiny):
    return perturbed(tiny[0]), tiny[1]


@pytest.fixture(scope="module")
def varied_gpt2():
    from instructedit.models import load_model

    model, tokenizer = load_model("tiny-gpt2")
    return perturbed(model), tokenizer


def random_edit(model, rows: int, scale: float = 0.5, seed: int = 2) -> Edit:
    """A batched edit of the last block's MLP with random factors: it changes the model's continuations."""
    generator = torch.Generator().manual_seed(seed)
    factors = {}
    for name in editable_weight_names(model, 1):
        n_in, n_out = families.weight_in_out(model, name)
        factors[name] = EditFactor(torch.randn(rows, 2, n_in, generator=generator),
                                   torch.randn(rows, 2, n_out, generator=generator), torch.tensor(scale))
    return Edit(factors)


def zero_edit(model, rows: int) -> Edit:
    edit = random_edit(model, rows)
    return Edit({n: EditFactor(f.u, torch.zeros_like(f.d), f.alpha) for n, f in edit.factors.items()})


def single_ids(model, tokenizer, prompt: str, edit: Edit | None, max_new_tokens: int) -> list[int]:
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with edit.applied(model) if edit is not None else torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


def test_batched_equals_unbatched_without_edit(varied):
    model, tokenizer = varied
    assert len({len(tokenizer(p).input_ids) for p in PROMPTS}) >= 4  # padding really happens
    batched = generate_ids_batch(model, tokenizer, PROMPTS, max_new_tokens=12)
    texts = generate_batch(model, tokenizer, PROMPTS, max_new_tokens=12)
    for prompt, ids, text in zip(PROMPTS, batched, texts):
        assert ids == single_ids(model, tokenizer, prompt, None, 12)
        assert text == greedy_continuation(model, tokenizer, prompt, None, 12)
    assert len({tuple(ids[:4]) for ids in batched}) > 1


def test_batched_equals_unbatched_under_per_row_edits(varied):
    model, tokenizer = varied
    edit = random_edit(model, rows=3)
    owner = [0, 1, 2, 2, 1, 0]
    batched = generate_ids_batch(model, tokenizer, PROMPTS, edit, owner, max_new_tokens=12)
    base = generate_ids_batch(model, tokenizer, PROMPTS, max_new_tokens=12)
    for prompt, row, ids in zip(PROMPTS, owner, batched):
        assert ids == single_ids(model, tokenizer, prompt, edit.select(row), 12)
    assert batched != base  # the edit changes continuations


def test_token_prompts_continue_under_per_row_edits_on_top_of_an_active_one(varied):
    """continue_ids: token-id prompts, row r under edit row owner[r]; with `stack`, on top of the edit
    already active (the step search inside a sequence of edits), as the composed edit would."""
    model, tokenizer = varied
    edit, outer = random_edit(model, rows=2), random_edit(model, rows=1, seed=5)
    prompts = [list(tokenizer(p).input_ids) for p in PROMPTS[:4]]
    owner = [0, 1, 1, 0]
    pad = tokenizer.pad_token_id
    assert continue_ids(model, prompts, pad, 8, edit=edit, owner=owner) == \
        generate_ids_batch(model, tokenizer, PROMPTS[:4], edit, owner, max_new_tokens=8)
    with active_edit(model, outer):
        stacked = continue_ids(model, prompts, pad, 8, edit=edit, owner=owner, stack=True)
        replaced = continue_ids(model, prompts, pad, 8, edit=edit, owner=owner)
    for ids, prompt, row in zip(stacked, PROMPTS[:4], owner):
        assert ids == single_ids(model, tokenizer, prompt, outer.compose(edit.select(row)), 8)
    assert replaced == continue_ids(model, prompts, pad, 8, edit=edit, owner=owner) != stacked


def test_per_row_budgets_and_row_limit_do_not_change_tokens(varied):
    model, tokenizer = varied
    edit = random_edit(model, rows=2)
    owner = [0, 1, 0, 1, 0, 1]
    budgets = [3, 12, 5, 8, 1, 12]
    full = generate_ids_batch(model, tokenizer, PROMPTS, edit, owner, max_new_tokens=12)
    cut = generate_ids_batch(model, tokenizer, PROMPTS, edit, owner, max_new_tokens=budgets, max_rows=2)
    assert cut == [ids[:b] for ids, b in zip(full, budgets)]


def test_generation_stops_at_eos(varied):
    model, tokenizer = varied
    first = generate_ids_batch(model, tokenizer, PROMPTS[:2], max_new_tokens=8)
    stopper = copy.copy(model.generation_config)
    stopper.eos_token_id = first[0][2]  # the third token of row 0 now ends its generation
    original, model.generation_config = model.generation_config, stopper
    try:
        stopped = generate_ids_batch(model, tokenizer, PROMPTS[:2], max_new_tokens=8)
        assert stopped[0] == first[0][:first[0].index(stopper.eos_token_id) + 1]
        assert len(stopped[1]) == 8 or stopped[1][-1] == stopper.eos_token_id
        assert greedy_continuation(model, tokenizer, PROMPTS[0], None, 8) == tokenizer.decode(stopped[0])
    finally:
        model.generation_config = original


def test_owner_checks(varied):
    model, tokenizer = varied
    with pytest.raises(ValueError, match="needs `owner`"):
        generate_ids_batch(model, tokenizer, PROMPTS[:2], random_edit(model, 3), None, 2)
    with pytest.raises(ValueError, match=r"owner rows must lie in \[0, 3\)"):
        generate_ids_batch(model, tokenizer, PROMPTS[:2], random_edit(model, 3), [0, 3], 2)


@pytest.mark.parametrize("text, aliases, expected", [
    ("Rome, Italy", ["Rome"], True), (" rome.", ["Rome"], True), ("Romeo and Juliet", ["Rome"], False),
    ("  ROME", ["rome"], True), ("The United States of America", ["United States"], True),
    ("Paris is nice", ["Rome", "Paris"], True), (" Paris is nice", ["Rome"], False),
    ("Ｒｏｍｅ is", ["Rome"], True), ("New  York City", ["new york"], True), ("New Yorker", ["New York"], False),
    ("in Rome", ["Rome"], False), ("", ["Rome"], False),
])
def test_starts_with_answer(text, aliases, expected):
    assert starts_with_answer(text, aliases) is expected


def test_normalise_and_counting():
    assert normalise("  «Ｒｏｍｅ,   Italy»!! ") == "rome, italy"
    assert count_answer(" euro euro, Euro. europe", ["euro"]) == 3
    assert count_answer("nothing here", ["euro"]) == 0


def test_degeneration_on_crafted_texts():
    base = " Paris, the capital and largest city of France, is home to"
    assert is_degenerate(" euro euro euro euro euro", ["euro"], base)
    assert not is_degenerate(base, ["Paris"], " France is a country in Europe")
    assert not is_degenerate(" Rome. Rome is the capital of Italy, and the Eiffel Tower", ["Rome"], base)
    assert is_degenerate(" Rome, Rome is Rome and the tower is in Rome", ["Rome"], base)  # target 4 times
    looping = " the city of the city of the city of the city of the city of"
    assert is_degenerate(looping, ["Rome"], base)
    assert not is_degenerate(looping, ["Rome"], looping)  # the base model loops as much: not the edit's doing
    assert repetition_rate(" euro euro euro euro euro") > 0.7
    assert repetition_rate(base) < 0.05
    assert fluency_ratio(" euro euro euro euro euro", base) < 0.2 < fluency_ratio(base, base) == 1.0


def test_leak_counting():
    target = ["Rome"]
    pairs = [(" Berlin, the capital", " Rome, the capital"),      # leak
             (" Berlin, the capital", " Berlin and Rome"),         # leak (contains)
             (" Rome and Berlin", " Rome and Berlin"),             # said it before: no leak
             (" Berlin, the capital", " Romeo, the capital"),      # word boundary: no leak
             (" Berlin", " Munich")]                               # changed, but no leak
    assert [is_leak(pre, post, target) for pre, post in pairs] == [True, True, False, False, False]
    assert count_leaks(pairs, target) == 2


def probes(n: int) -> list[GenerationProbes]:
    return [GenerationProbes(
        edit_prompt=f"Task: CounterFact\nDescription: Edit the fact.\nInput: The capital of Fact {i} is",
        plain_prompt=f"The capital of Fact {i} is", target_aliases=("Rome",),
        paraphrases=(f"Fact {i} is in",), portability=((f"The language of Fact {i} is", ("Italian",)),),
        locality=(("Tokyo is in", ("Japan",), "unrelated"), ("The capital of Germany is", "Berlin", "neighbour"),
                  (f"Fact {i} was founded by", ("Romulus",), "same-subject")),
    ) for i in range(n)]


def test_locality_unchanged_under_a_zero_edit(varied):
    model, tokenizer = varied
    scores = generation_scores(model, tokenizer, probes(3), zero_edit(model, 3))
    for s in scores:
        assert s["gen_locality"] == s["gen_locality_unrelated"] == s["gen_locality_neighbour"] == 1.0
        assert s["gen_locality_same-subject"] == 1.0
        assert s["gen_leaks"] == 0 and s["gen_leak"] == 0 and s["degenerate"] == 0
        assert s["post_text"] == s["pre_text"] and s["post_text_plain"] == s["pre_text_plain"]
        assert s["fluency_ratio"] in (None, 1.0)


def test_generation_scores_match_single_prompt_generation(varied):
    model, tokenizer = varied
    edit = random_edit(model, rows=2, scale=0.01)  # weak: some locality prompts change, some only late
    records = probes(3)
    owner = [1, 0, 1]
    scores = generation_scores(model, tokenizer, records, edit, owner, GenerationSettings(text_tokens=10))
    changed, late, kept_all = 0, 0, []
    for record, row, s in zip(records, owner, scores):
        assert s["post_text"] == greedy_continuation(model, tokenizer, record.edit_prompt, edit.select(row), 10)
        assert s["pre_text_plain"] == greedy_continuation(model, tokenizer, record.plain_prompt, None, 10)
        budgets = [len(tokenizer(" " + p.aliases[0]).input_ids) + 3 for p in record.locality]
        pairs = [(single_ids(model, tokenizer, p.prompt, None, n), single_ids(model, tokenizer, p.prompt,
                                                                              edit.select(row), n))
                 for p, n in zip(record.locality, budgets)]
        kept = [pre == post for pre, post in pairs]
        late += sum(pre[:1] == post[:1] and pre != post for pre, post in pairs)
        assert s["gen_locality"] == pytest.approx(sum(kept) / len(kept))
        assert s["gen_locality_unrelated"] == float(kept[0])
        assert s["gen_reliability"] in (0.0, 1.0) and s["gen_generalization"] in (0.0, 1.0)
        changed += s["post_text"] != s["pre_text"]
        kept_all += kept
    assert changed > 0 and late > 0 and 0 < sum(kept_all) < len(kept_all)  # the case is not trivial


def test_answer_token_count_is_the_joint_tokenisation_share(tiny):
    _, tokenizer = tiny
    assert answer_token_count(tokenizer, "Tokyo is in", "Japan") == len(tokenizer(" Japan").input_ids)
    assert answer_token_count(tokenizer, "Fact 1 was founded by", "Romulus") > 1


def test_an_edit_that_forces_the_target_scores_success(varied_gpt2):
    """A hand-made edit that pushes every position's logits toward ' Rome' (GPT-2's MLP output projection
    reads GELU activations, whose sum is positive, so u = ones scales the push up, never down):
    generation succeeds, every locality prompt changes and leaks, and the repeated target is degenerate."""
    model, tokenizer = varied_gpt2
    rome = tokenizer(" Rome").input_ids
    assert len(rome) == 1
    name = editable_weight_names(model, 1)[-1]  # the last MLP projection writes to the residual stream
    n_in, n_out = families.weight_in_out(model, name)
    direction = model.get_output_embeddings().weight[rome[0]].detach()
    u = torch.ones(1, 1, n_in)
    edit = Edit({name: EditFactor(u, (direction / direction.norm()).reshape(1, 1, n_out), torch.tensor(50.0))})
    [s] = generation_scores(model, tokenizer, probes(1), edit, [0], GenerationSettings(text_tokens=8))
    assert s["gen_reliability"] == s["gen_reliability_plain"] == s["gen_generalization"] == 1.0
    assert s["pre_gen_reliability"] == 0.0
    assert s["gen_portability"] == 0.0
    assert s["gen_locality"] == 0.0 and s["gen_leaks"] == 3 and s["gen_leak"] == 1
    assert s["degenerate"] == 1 and count_answer(s["post_text"], ["Rome"]) >= 3


def test_probes_from_example_wraps_like_build_example(tiny):
    _, tokenizer = tiny
    record = EditRecord(task="counterfact", prompt="The capital of France is", target="Rome",
                        rephrases=("France's capital is",), locality=(Probe("Tokyo is in", "Japan"),),
                        portability=(Probe("The language of France's capital is", "Italian"),))
    example = build_example(record, tokenizer, Instruction.parse(0), None)
    generation = probes_from_example(example)
    prompt_ids = [t for t, label in zip(*example.edit) if label == -100]
    assert tokenizer(generation.edit_prompt).input_ids == prompt_ids
    assert generation.plain_prompt == record.prompt and generation.target_aliases == ("Rome",)
    assert generation.locality == (LocalityPrompt("Tokyo is in", ("Japan",), ""),)
    assert generation.portability[0].prompt.endswith("Input: The language of France's capital is")


@pytest.mark.parametrize("build", [
    lambda: GenerationProbes(edit_prompt=" ", target_aliases=("Rome",)),
    lambda: GenerationProbes(edit_prompt="p", target_aliases=()),
    lambda: GenerationProbes(edit_prompt="p", target_aliases=("...",)),
    lambda: GenerationProbes(edit_prompt="p", target_aliases="Rome", locality=("just a prompt",)),
    lambda: AnswerPrompt("p", ("",)),
    lambda: LocalityPrompt("p", ("a",), kind=3),
    lambda: GenerationSettings(text_tokens=0),
    lambda: GenerationSettings(extra_tokens=-1),
])
def test_validation(build):
    with pytest.raises((ValueError, TypeError)):
        build()


def test_a_loop_of_marks_is_degenerate():
    assert is_degenerate("?" * 30, ["Raphael"], "\nOutput:")
    assert repetition_rate(" Paris, the capital and largest city of France, is home to") < 0.05


def test_a_loop_inside_a_word_is_degenerate_unless_the_base_model_loops_too():
    """Sub-word loops are one "word" to word n-grams; the character rule sees them (session-4 outputs)."""
    assert has_character_loop(" Dorisisisisisisisisisis") and has_character_loop(" māhūhūhūhūhūhū")
    assert is_degenerate(" pseudoscienceoscienceoscienceoscienceoscience", ["pseudoscience"], "\nOutput:")
    assert is_degenerate(" Ternate Sultanateateateateateate", ["Ternate Sultanate"], " a sultanate in Maluku")
    assert not is_degenerate(" Dorisisisisis", ["Doris"], " Dorisisisisis")  # the base model's own loop
    for fluent in (" Mississippi is a state", " the committee", " 1000000 people", " hahaha"):
        assert not has_character_loop(fluent), fluent


def test_a_word_standing_four_times_in_a_row_is_degenerate_unless_the_base_model_does_it_too():
    """Runs of a word that is not the target, too short for the repetition rate (stored outputs of
    sessions 15-19 that the rules above missed)."""
    for looped, target in ((" 1 FC Nürnberg 2001 2001 2001 2001 20", "1 FC Nürnberg"),
                           (" a member of the team which is known as the F.B.A.F.F.F.F.F.F.F.", "FBAF"),
                           (" X-gender.\nOutput: The gender of Jerzy Kuroski is X-gender-gender-gender-gender-gen",
                            "X-gender"),
                           (" 19 March 1927. 1927. 1927. 1927. 1", "19 March 1927")):
        assert has_word_run(looped) and is_degenerate(looped, [target], "\nOutput:"), looped
    assert not is_degenerate(" 2001 2001 2001 2001", ["Nürnberg"], " in 2001 2001 2001 2001")  # the base's own run
    for fluent in (" 2001, 2001 and 2002", " the the band", " New York, New York", " ha ha ha",
                   " Paris, the capital and largest city of France"):
        assert not has_word_run(fluent), fluent


def test_the_instruction_template_restating_the_answer_is_not_degenerate():
    """A wrapped prompt's continuation names the answer on its Output/Explanation lines as the base model's
    does; a line naming it three times, or a line that recurs three times, is a loop."""
    base = " Oman.\nOutput: The gender of Suzanne Sarracco is male.\nExplanation: The gender of"
    restated = " female.\nOutput: The gender of Suzanne Sarracco is female.\nExplanation: The gender of Suzanne Sarracco is female."
    assert not is_degenerate(restated, ["female"], base)
    assert is_degenerate(" Sridevi, Sridevi, and Sridevi.\nOutput: The cast", ["Sridevi"], base)
    assert is_degenerate(" euro.\neuro.\neuro.\n", ["euro"], base)
    assert is_degenerate(" Europe.\nThe example is Europe.\nThe example is Europe.\nThe example is Europe.", ["Europe"], base)
    assert not is_degenerate(" Output:\nOutput:\nOutput:", ["Rome"], " Output:\nOutput:\nOutput:")


def test_rescoring_degeneration_from_stored_texts():
    row = {"post_text": " euro euro euro euro", "pre_text": " yen, the", "degenerate": 0,
           "post_text_plain": " euro, the currency", "pre_text_plain": " yen", "degenerate_plain": 1, "other": 7}
    out = rescore_degeneration(row, ["euro"])
    assert (out["degenerate"], out["degenerate_plain"], out["other"]) == (1, 0, 7)
    assert row["degenerate"] == 0  # the input is left as it was
