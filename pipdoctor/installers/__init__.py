"""What differs between the installers pipdoctor diagnoses (pip, uv): one folder each, the rest is shared."""
