"""`budgetbot jira check` and `setup`: try the credentials, fields, permissions and transition; create fields."""

from __future__ import annotations

from dataclasses import dataclass

from bot.integrations.jira.client import (
    EDITMETA,
    FIELDS,
    MY_PERMISSIONS,
    MYSELF,
    USER,
    JiraClient,
    JiraRejected,
    JiraUnavailable,
    is_configured,
)
from bot.integrations.jira.fields import FieldError, FieldMap, resolve

NEEDED = ["BROWSE_PROJECTS", "EDIT_ISSUES", "ADD_COMMENTS", "EDIT_OWN_COMMENTS", "TRANSITION_ISSUES"]
FIELD_TYPES = {  # Jira's custom field type and JQL searcher keys
    "text": ("com.atlassian.jira.plugin.system.customfieldtypes:textfield",
             "com.atlassian.jira.plugin.system.customfieldtypes:textsearcher"),
    "number": ("com.atlassian.jira.plugin.system.customfieldtypes:float",
               "com.atlassian.jira.plugin.system.customfieldtypes:exactnumber"),
}


@dataclass(frozen=True)
class Check:
    level: str  # ok | warn | fail
    text: str


def run_checks(settings) -> list[Check]:
    """Every check, in order; stops early only when nothing further can be asked."""
    if not settings.jira_url:
        return [Check("fail", "BUDGETBOT_JIRA_URL is not set")]
    if not is_configured(settings):
        return [Check("fail", "no credentials: set BUDGETBOT_JIRA_EMAIL + BUDGETBOT_JIRA_API_TOKEN (Cloud) or "
                              "BUDGETBOT_JIRA_PERSONAL_ACCESS_TOKEN (Data Center)")]
    client = JiraClient(settings)
    checks = [Check("ok", f"{'Cloud, API v3 (ADF comments)' if client.cloud else 'Data Center, API v2 (wiki markup)'}"
                          f" at {client.base}")]
    try:
        me = client.request("GET", client.path(MYSELF)) or {}
        checks.append(Check("ok", f"signed in as {me.get('displayName')} ({me.get('accountId') or me.get('name')})"))
        fmap = _check_fields(client, settings, checks)
        _check_permissions(client, settings, checks)
        if fmap is not None:
            _check_sample_issue(client, settings, fmap, checks)
        _check_escalation_user(client, settings, checks)
    except (JiraRejected, JiraUnavailable) as exc:
        checks.append(Check("fail", str(exc)))
    if settings.jira_webhook_secret is None and settings.dry_run:
        # What the endpoint really does (webhook.receive): unsigned deliveries are accepted in dry-run only.
        checks.append(Check("warn", "BUDGETBOT_JIRA_WEBHOOK_SECRET is not set: in dry-run POST /webhooks/jira "
                                    "accepts unsigned deliveries; without dry-run it answers 401 (set it, and the "
                                    "same secret on the Jira webhook)"))
    elif settings.jira_webhook_secret is None:
        checks.append(Check("fail", "BUDGETBOT_JIRA_WEBHOOK_SECRET is not set: POST /webhooks/jira answers 401 "
                                    "(set it, and the same secret on the Jira webhook)"))
    else:
        checks.append(Check("ok", "webhook secret is set"))
    return checks


def _check_fields(client: JiraClient, settings, checks: list[Check]) -> FieldMap | None:
    try:
        fmap = resolve(client.fields(), settings)
    except FieldError as exc:
        checks.append(Check("fail", str(exc)))
        return None
    for role, found in (("budget", fmap.budget), ("spend", fmap.spend), ("USD spend", fmap.spend_usd),
                        ("story points", fmap.story_points), ("sprint", fmap.sprint)):
        if found is not None:
            checks.append(Check("ok", f"{role} field {found.name!r} is {found.id} ({found.type})"))
    checks += [Check("warn", text) for text in fmap.warnings]
    return fmap


def _check_permissions(client: JiraClient, settings, checks: list[Check]) -> None:
    scopes = [{"projectKey": p} for p in settings.jira_projects] or [{}]
    if not settings.jira_projects:
        checks.append(Check("warn", "BUDGETBOT_JIRA_PROJECTS is not set: permissions checked for any project"))
    for scope in scopes:
        answer = client.request("GET", client.path(MY_PERMISSIONS),
                                params={**scope, "permissions": ",".join(NEEDED)}) or {}
        granted = answer.get("permissions") or {}
        missing = [p for p in NEEDED if not (granted.get(p) or {}).get("havePermission")]
        where = scope.get("projectKey", "any project")
        checks.append(Check("fail", f"{where}: missing permission(s) {', '.join(missing)}") if missing
                      else Check("ok", f"{where}: may browse, edit, comment and transition"))


def _check_sample_issue(client: JiraClient, settings, fmap: FieldMap, checks: list[Check]) -> None:
    """Screens and transitions belong to a project's workflow: ask about one recent issue."""
    for project in settings.jira_projects[:5]:
        jql = f"project = {project} ORDER BY updated DESC"
        found = client.search({"jql": jql, "maxResults": 1, "fields": ["status"]})
        issues = found.get("issues") or []
        if not issues:
            checks.append(Check("warn", f"{project}: no issue to check screens and transitions on"))
            continue
        key = issues[0]["key"]
        editable = (client.request("GET", client.path(EDITMETA, key=key)) or {}).get("fields") or {}
        for field in (fmap.spend, fmap.spend_usd, fmap.budget):
            if field is not None and field.id not in editable:
                checks.append(Check("fail", f"{key}: {field.name!r} is not on the edit screen; add it to the "
                                            f"{project} screens (Project settings, Issue layout / Screens)"))
        if settings.jira_over_budget_transition:
            wanted = settings.jira_over_budget_transition.lower()
            listed = client.transitions(key)
            names = [t.get("name", "") for t in listed]
            targets = [(t.get("to") or {}).get("name", "") for t in listed]
            if wanted in [n.lower() for n in names + targets]:
                checks.append(Check("ok", f"{key}: transition {settings.jira_over_budget_transition!r} is available"))
            else:
                checks.append(Check("warn", f"{key}: no transition {settings.jira_over_budget_transition!r} from "
                                            f"its status (available: {', '.join(names) or 'none'})"))


def _check_escalation_user(client: JiraClient, settings, checks: list[Check]) -> None:
    user = settings.jira_escalation_user
    if not user:
        checks.append(Check("warn", "BUDGETBOT_JIRA_ESCALATION_USER is not set: over-budget comments mention "
                                    "only the assignee"))
        return
    try:
        found = client.request("GET", client.path(USER),
                               params={"accountId" if client.cloud else "username": user}) or {}
        checks.append(Check("ok", f"escalation user is {found.get('displayName') or user}"))
    except JiraRejected:
        checks.append(Check("fail", f"BUDGETBOT_JIRA_ESCALATION_USER {user!r} is not a Jira user "
                                    f"({'an accountId' if client.cloud else 'a username'} is expected)"))


def setup_fields(client: JiraClient, settings, budget_type: str, dry_run: bool) -> list[str]:
    """Create the Token Budget / Token Spend (/ USD) fields that are missing. Returns what happened."""
    # Without credentials a dry run still shows the requests: it cannot see which fields exist, so it shows all.
    existing = client.fields() if client.configured or not dry_run else []
    wanted = [(settings.jira_budget_field, budget_type,
               "Token budget of the story: 200k, $5 or 200k / $5 (read by budgetbot)"),
              (settings.jira_spend_field, "number", "Tokens the agents spent on the story (written by budgetbot)")]
    if settings.jira_spend_usd_field:
        wanted.append((settings.jira_spend_usd_field, "number", "USD the agents spent (written by budgetbot)"))
    done = [] if client.configured else ["no Jira credentials: every field is shown, as if none existed yet"]
    for name, kind, description in wanted:
        same = [f for f in existing if (f.get("name") or "").strip().lower() == name.strip().lower()]
        if len(same) > 1:
            raise FieldError(f"{len(same)} fields are named {name!r}; rename all but one")
        if same:
            done.append(f"exists: {name!r} ({same[0]['id']})")
            continue
        field_type, searcher = FIELD_TYPES[kind]
        body = {"name": name, "description": description, "type": field_type, "searcherKey": searcher}
        if dry_run:
            done.append(f"would POST {client.url(client.path(FIELDS))} {body}")
            continue
        created = client.request("POST", client.path(FIELDS), json=body) or {}
        done.append(f"created: {name!r} ({created.get('id')}, {kind})")
    return done
