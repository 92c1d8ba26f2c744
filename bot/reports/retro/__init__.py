"""The sprint retro: figures from the ledger (figures, savings), their queries, renderers and posting."""
