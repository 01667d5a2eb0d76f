"""The `grantflow` command: a thin shell over the service layer."""
