"""What differs between the installers pipdoctor diagnoses (pip, uv): one folder each, the rest is shared."""


def installer_named(name: str):
    """PIP or UV by the name a journal or an option gives (a ValueError for any other name)."""
    from pipdoctor.installers.pip import PIP
    from pipdoctor.installers.uv import UV

    for installer in (PIP, UV):
        if installer.name == name:
            return installer
    raise ValueError(f"no installer named {name!r}")
