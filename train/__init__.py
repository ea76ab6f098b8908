"""The distillation recipe: data assembly, teacher scoring, per-size training (``python -m train``)."""
