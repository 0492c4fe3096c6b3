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
    """One IFD per example, in order; batched forward passes without gradients."""
    import torch

    from instructscale.templates import get_template
    from instructscale.train.base import load_base
    from instructscale.train.data import fit_example

    tokenizer, model = load_base(base_model)
    model.eval()
    tpl = get_template(template)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    scores: list[float] = []
    with torch.no_grad(), progress() as bar:
        task = bar.add_task("ifd", total=len(examples))
        for b in range(0, len(examples), batch_size):
            pairs = [fit_example(ex, tokenizer, tpl, max_length)[:2] for ex in examples[b:b + batch_size]]
            with_prompt = _answer_losses(model, [(p, c) for p, c in pairs], tokenizer.pad_token_id)
            alone = _answer_losses(model, [([start], c) for _, c in pairs], tokenizer.pad_token_id)
            scores.extend(float(w / a) if a > 0 else float("inf") for w, a in zip(with_prompt, alone))
            bar.advance(task, len(pairs))
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
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
    counted = (target != -100).sum(dim=1).clamp(min=1)
    return (loss.sum(dim=1) / counted).tolist()
