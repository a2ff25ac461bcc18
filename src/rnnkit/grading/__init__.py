"""Grading a class: sandboxed kernels, tamper defences, integrity scan and the pipeline."""
