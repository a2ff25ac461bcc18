"""Grading a class: sandboxed kernels, tamper defences, integrity scan and the pipeline."""

from .lean_imports import skip_slow_optional_imports

skip_slow_optional_imports()  # before anything here imports nbformat: see lean_imports.py
