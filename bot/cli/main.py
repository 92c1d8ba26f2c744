"""The `budgetbot` command group: the core commands, then each component's (collected, never imported back)."""

from __future__ import annotations

import click

from bot.cli import core, demo, sprints, stories, verdict
from bot.components import load_components


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="budgetbot")
def main() -> None:
    """budgetbot: token budgets on Jira stories, measured agent spend, and a PR check that enforces them.

    Configuration comes from BUDGETBOT_* environment variables (see README).
    """


for _command in [*core.COMMANDS, verdict.event_group, *sprints.COMMANDS, *stories.COMMANDS, *demo.COMMANDS]:
    main.add_command(_command)
for _component in load_components():
    for _command in _component.commands() if _component.commands else ():
        main.add_command(_command)
