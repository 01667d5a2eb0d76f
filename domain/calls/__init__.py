"""Call definitions as data: one TOML file per call."""
