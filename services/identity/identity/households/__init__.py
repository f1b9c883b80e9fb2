"""Accounts and households: the use cases, one function each, framework-free.

Every function takes the caller's SQLAlchemy session (the caller owns the transaction, so a
change, its events in the outbox and its audit entries commit together) and returns plain
dicts (see household_views). Refusals are `identity.errors` exceptions with French messages.

Who may do what:
- agents act for the commune of their service token (`caller.commune`) and must really be
  agents of it; they only ever see families associated with that commune;
- parents act on the family their login (`caller.sub`) belongs to, never on one named in a request;
- link holders (activation, invitation) act through the single-use token.

Modules: `callers` (who is asking), `communes`, `agents` (registering and reading families),
`activation` (by link), `household` (the family space, claims, address changes),
`invitations` (second guardian), `receipts` (notify's sent/failed receipts). Everything public
is re-exported here: `from identity import households; households.register_family(...)`.
"""
from identity.households.activation import (confirm_activation, get_activation, submit_activation_password,
                                            submit_activation_profile)
from identity.households.agents import get_family, list_audit, list_families, register_family, resend_activation
from identity.households.callers import (AGENT_ROLES, SOURCE, agent_commune, guardian_of, password_refusal,
                                         signed_in_guardian, user_by_email, user_by_sub)
from identity.households.communes import get_commune, list_communes
from identity.households.household import (add_child, apply_address_change, family_claims, get_household,
                                           update_child, update_family, update_guardian)
from identity.households.invitations import accept_invitation, confirm_invitation, get_invitation, invite_guardian
from identity.households.receipts import record_notification_failed, record_notification_sent

__all__ = [
    "AGENT_ROLES", "SOURCE", "accept_invitation", "add_child", "agent_commune", "apply_address_change",
    "confirm_activation", "confirm_invitation", "family_claims", "get_activation", "get_commune", "get_family",
    "get_household", "get_invitation", "guardian_of", "invite_guardian", "list_audit", "list_communes",
    "list_families", "password_refusal", "record_notification_failed", "record_notification_sent",
    "register_family", "resend_activation", "signed_in_guardian", "submit_activation_password",
    "submit_activation_profile", "update_child", "update_family", "update_guardian", "user_by_email", "user_by_sub",
]
