"""The `budgetbot` command line: `main` (bot.cli.main) collects the core commands and each component's."""
