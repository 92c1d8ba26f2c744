"""budgetbot-client: report every model call to budgetbot and ask it before the next one."""

from budgetbot_client.client import BudgetClient
from budgetbot_client.decision import ALLOW, BLOCK, WARN, BudgetExceeded, Decision, Reason
from budgetbot_client.guard import Guard, GuardHandle, current_guard
from budgetbot_client.usage import UsageError, usage_fields

__all__ = ["ALLOW", "BLOCK", "WARN", "BudgetClient", "BudgetExceeded", "Decision", "Guard", "GuardHandle",
           "Reason", "UsageError", "current_guard", "usage_fields"]
__version__ = "0.1.0"
