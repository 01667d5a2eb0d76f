"""The service layer: what people can do with grantflow, called by the CLI and a future API alike."""
