"""budgetbot: FinOps guardrails for AI coding agents. The app is built by `bot.app.create_app`."""
