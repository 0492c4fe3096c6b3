"""Does packing keep examples apart for *this* model?

TRL packs examples into one row and marks their starts with position ids (no attention
mask). Whether a model turns those position ids into a block-diagonal mask depends on
the architecture and the transformers version (Bloom, with ALiBi, ignores position ids),
so we measure it: logits of example B alone must equal B's logits when packed after A,
computed through the same collator and forward call the trainer uses. (In half precision,
where packed and alone runs round differently, B after A1 must equal B after A2.)
"""

from __future__ import annotations


def packing_isolates(model, pad_token_id: int, atol: float = 1e-4) -> bool:
    if any(hasattr(p, "ds_id") for p in model.parameters()):
        # built under ZeRO-3's zero.Init: each rank holds a shard, so gather the weights for
        # the check (all ranks take part; a full copy per rank for the length of it)
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters())):
            return _isolates(model, pad_token_id, atol)
    return _isolates(model, pad_token_id, atol)


def _isolates(model, pad_token_id: int, atol: float) -> bool:
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    vocab = model.get_input_embeddings().num_embeddings
    gen = torch.Generator().manual_seed(0)
    a1, a2 = (torch.randint(0, vocab, (11,), generator=gen).tolist() for _ in range(2))
    b = torch.randint(0, vocab, (7,), generator=gen).tolist()
    collate = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)
    device = next(model.parameters()).device

    def logits(ids, seq_lengths=None):
        batch = collate([{"input_ids": ids, "seq_lengths": seq_lengths or [len(ids)]}])
        batch.pop("labels")
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        return model(**batch, use_cache=False).logits[0].float()

    was_training = model.training
    model.eval()  # no dropout, so any difference comes from attention across examples
    try:
        with torch.no_grad():
            after_a1 = logits(a1 + b, [len(a1), len(b)])[len(a1):]
            after_a2 = logits(a2 + b, [len(a2), len(b)])[len(a2):]
            alone = logits(b)
    finally:
        model.train(was_training)
    # in half precision (e.g. QLoRA) packed and alone runs round differently, so there B must
    # not depend on what precedes it: with isolation its logits after A1 and after A2 are the
    # same computation, differing at most by noise far below what attention to A would cause
    if any(p.is_floating_point() and p.dtype != torch.float32 for p in model.parameters()):
        return bool(torch.allclose(after_a1, after_a2, atol=atol, rtol=1e-3))
    return bool(torch.allclose(after_a1, alone, atol=atol, rtol=1e-3)
                and torch.allclose(after_a2, alone, atol=atol, rtol=1e-3))
