"""uv: how it is run, where its cache is and who decided, what it writes there (no root rule), its wordings."""
