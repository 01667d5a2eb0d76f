"""The HTTP API: what officers, applicants, finance, auditors and operations do, over `services/`."""
