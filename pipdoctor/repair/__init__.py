"""Applies a fix plan and undoes it, split along the trust boundary.

fs (syscalls by fd, never following a link), store (where journals live and whether they can be trusted),
schema (the one record format, written and validated), journal (the writer and the bounded reader),
outcome (what a repair did), apply (journal first, then the change), undo (newest first, re-checked).
"""
