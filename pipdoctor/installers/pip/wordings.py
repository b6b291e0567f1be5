"""pip's own sentences that more than one rule reads (a rule's private patterns stay in its module)."""

from pipdoctor.lazyre import lazy_compile

# pip 6.0 to 26: "The directory 'P' or its parent directory is not owned [or is not writable] by the current
# user and the cache has been disabled." / "... and caching wheels has been disabled." (7.1.1-19.3) /
# "... The cache has been disabled." (20.0+). The WARNING: prefix exists only from 19.1; lines may be indented.
# pip 6.0.4-6.1.1 print the same sentence for the debug log ("...and the debug log has been disabled"), which
# is not the cache (6.1.1 basecommand.py:205).
CACHE_DISABLED = lazy_compile(r"""The directory ['"](.+?)['"] or its parent directory is not owned(?!.*debug log)""")
CACHE_DISABLED_TRIGGER = rb"or its parent directory is not owned"
