"""Model and tokenizer loading shared by train and respond: Hub ids, local paths, and
tiny models built from a config (no download) for tests and the offline demo."""
