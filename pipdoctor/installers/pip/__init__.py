"""pip: how it is run, where its cache is and who decided, what it writes there, its root rule, its wordings."""
