"""pipdoctor: runs pip, and when pip fails, says which directory is really wrong and how to fix it."""

__version__ = "0.1.0"
