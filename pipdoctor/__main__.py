"""`python -m pipdoctor`."""

from pipdoctor.cli import console

console()
