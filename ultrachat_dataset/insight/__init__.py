"""Knowing what you train on: the paper's statistics (`stats`) and plots (`plots`)."""
