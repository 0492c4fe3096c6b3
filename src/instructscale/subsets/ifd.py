"""`ifd` selection: instruction-following difficulty (Li et al. 2023, "From Quantity to
Quality"), computed with the study's own base model.

IFD = loss(answer | instruction) / loss(answer alone), each the mean token cross-entropy
over the answer. Near 0: the instruction makes the answer easy, little to learn; near 1:
the instruction barely helps, the example is hard to follow; above 1: the instruction does
not fit the answer at all. Prompts are rendered and truncated exactly as training will
see them (`train.data.fit_example`), so the score measures what training will learn.
"""

from __future__ import annotations

from instructscale.console import progress
from instructscale.records import InstructionExample


def ifd_scores(examples: list[InstructionExample], base_model: str, *, template: str = "belle",
               max_length: int = 512, batch_size: int = 8) -> list[float]:
    """One IFD per example, in order; batched forward passes without gradients, examples of
    similar length batched together so little is spent on padding."""
    import torch

    from instructscale.templates import get_template
    from instructscale.train.base import load_base
    from instructscale.train.data import fit_example

    tokenizer, model = load_base(base_model)
    model.eval()
    tpl = get_template(template)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pairs = [fit_example(ex, tokenizer, tpl, max_length)[:2] for ex in examples]
    by_length = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scores: list[float] = [0.0] * len(pairs)
    with torch.no_grad(), progress() as bar:
        task = bar.add_task("ifd", total=len(pairs))
        for b in range(0, len(by_length), batch_size):
            batch = by_length[b:b + batch_size]
            with_prompt = _answer_losses(model, [pairs[i] for i in batch], tokenizer.pad_token_id)
            alone = _answer_losses(model, [([start], pairs[i][1]) for i in batch], tokenizer.pad_token_id)
            for i, w, a in zip(batch, with_prompt, alone):
                scores[i] = float(w / a) if a > 0 else float("inf")
            bar.advance(task, len(batch))
    return scores


def _answer_losses(model, rows: list[tuple[list[int], list[int]]], pad_id: int):
    """Mean cross-entropy of each row's answer tokens given its context tokens."""
    import torch

    width = max(len(c) + len(a) for c, a in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (context, answer) in enumerate(rows):
        n = len(context) + len(answer)
        ids[r, :n] = torch.tensor(context + answer)
        labels[r, len(context):n] = torch.tensor(answer)
        mask[r, :n] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target = labels[:, 1:]
    scored = target != -100  # only answer positions: the softmax over the vocabulary is the costly part
    loss = torch.nn.functional.cross_entropy(logits[scored].float(), target[scored], reduction="none")
    totals = torch.zeros(len(rows)).index_add_(0, scored.nonzero()[:, 0], loss)
    return (totals / scored.sum(dim=1).clamp(min=1)).tolist()
