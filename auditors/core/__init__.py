"""What every auditor shares: the feature table, who decided what, and building and storing findings."""
