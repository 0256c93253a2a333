"""The kernel every stage may import, and which imports no stage: errors, settings, files, console, tokenizer."""
