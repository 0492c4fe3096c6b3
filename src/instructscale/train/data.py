"""Examples -> token ids and labels, with the stated max-length policy.

Prompt and response are tokenized separately, as `respond` will see them (the prompt
with the tokenizer's special tokens, the response followed by EOS). Over-long examples:
1. shorten the input (the part a user pasted in), keeping its start;
2. if the prompt alone is still too long, keep the response's start: the response gets
   at least half of max_length (or all it needs), and the prompt keeps its end (the turn
   marker the response must follow);
3. whatever is left over comes off the response's end.
"""

from __future__ import annotations

from dataclasses import dataclass

from instructscale.records import InstructionExample
from instructscale.templates import PromptTemplate


@dataclass
class Tokenized:
    rows: list[dict]  # {"input_ids", "labels"}
    truncated: int  # examples that did not fit max_length as they were
    tokens: int  # total tokens after truncation


def tokenize_examples(examples: list[InstructionExample], tokenizer, template: PromptTemplate, *,
                      max_length: int, loss_on: str = "completion") -> Tokenized:
    rows, truncated, tokens = [], 0, 0
    for ex in examples:
        prompt_ids, completion_ids, was_cut = fit_example(ex, tokenizer, template, max_length)
        truncated += was_cut
        prompt_labels = [-100] * len(prompt_ids) if loss_on == "completion" else prompt_ids
        rows.append({"input_ids": prompt_ids + completion_ids, "labels": prompt_labels + completion_ids})
        tokens += len(prompt_ids) + len(completion_ids)
    return Tokenized(rows, truncated, tokens)


def fit_example(ex: InstructionExample, tokenizer, template: PromptTemplate, max_length: int):
    """(prompt ids, completion ids, truncated?) with len(prompt) + len(completion) <= max_length."""
    completion = _encode(tokenizer, ex.output, special=False) + [tokenizer.eos_token_id]
    prompt = encode_prompt(tokenizer, template, ex.instruction, ex.input)
    if len(prompt) + len(completion) <= max_length:
        return prompt, completion, False

    if ex.input:
        input_ids = _encode(tokenizer, ex.input, special=False)
        keep = len(input_ids) - (len(prompt) + len(completion) - max_length)
        while keep > 0:  # re-render: tokens at the cut may merge differently, so check again
            short = tokenizer.decode(input_ids[:keep], skip_special_tokens=True)
            prompt = encode_prompt(tokenizer, template, ex.instruction, short)
            if len(prompt) + len(completion) <= max_length:
                return prompt, completion, True
            keep -= max(1, len(prompt) + len(completion) - max_length)
        prompt = encode_prompt(tokenizer, template, ex.instruction, "")
        if len(prompt) + len(completion) <= max_length:
            return prompt, completion, True

    response_budget = max(max_length - len(prompt), min(len(completion), max_length // 2))
    completion = completion[:response_budget]
    prompt = prompt[max(0, len(prompt) - (max_length - len(completion))):]
    return prompt, completion, True


def encode_prompt(tokenizer, template: PromptTemplate, instruction: str, input: str) -> list[int]:
    """Prompt token ids. A chat template's text already holds the model's special tokens (BOS
    included), so only plain templates get the tokenizer's own special tokens added."""
    text = template.render(instruction, input, tokenizer=tokenizer)
    return _encode(tokenizer, text, special=template.name != "chat")


def _encode(tokenizer, text: str, special: bool = True) -> list[int]:
    return tokenizer(text, add_special_tokens=special)["input_ids"]
