"""Does packing keep examples apart for *this* model?

TRL packs examples into one row and marks their starts with position ids (no attention
mask). Whether a model turns those position ids into a block-diagonal mask depends on
the architecture and the transformers version (Bloom, with ALiBi, ignores position ids),
so we measure it: logits of example B alone must equal B's logits when packed after A,
computed through the same collator and forward call the trainer uses.
"""

from __future__ import annotations


def packing_isolates(model, pad_token_id: int, atol: float = 1e-4) -> bool:
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    vocab = model.get_input_embeddings().num_embeddings
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, vocab, (11,), generator=gen).tolist()
    b = torch.randint(0, vocab, (7,), generator=gen).tolist()
    collate = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)
    packed = collate([{"input_ids": a + b, "seq_lengths": [len(a), len(b)]}])
    packed.pop("labels")
    device = next(model.parameters()).device
    packed = {k: v.to(device) if hasattr(v, "to") else v for k, v in packed.items()}
    was_training = model.training
    model.eval()  # no dropout, so any difference comes from attention across examples
    try:
        with torch.no_grad():
            together = model(**packed, use_cache=False).logits[0, len(a):].float()
            alone = model(input_ids=torch.tensor([b], device=device), use_cache=False).logits[0].float()
    finally:
        model.train(was_training)
    return bool(torch.allclose(together, alone, atol=atol, rtol=1e-3))
