"""Application layer: one command is one transaction; plans, the ledger, the CLI."""
