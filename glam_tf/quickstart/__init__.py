"""`glam quickstart`: tokenizer, training, few-shot eval, export, plots and report in one run."""
