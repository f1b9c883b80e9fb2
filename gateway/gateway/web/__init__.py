"""The gateway's page blueprints.

`BLUEPRINTS` lists the account pages' blueprints (famille, agent, activation, invitation);
`app.create_app` registers each of them after the gateway's own (home, sign-in, proxy,
health, dev mails). Add a blueprint by importing its module here and appending its `bp`.

The header navigation shows an entry only when its endpoint exists (see
`gateway.app.NAVIGATION`): "Ma famille" → `famille.index`, "Mes réservations" →
`reservations.index`, "Mes factures" → `factures.index`, "Mes demandes" → `demandes.index`,
"Espace agent" → `agent.index`.
"""
from __future__ import annotations

from flask import Blueprint

BLUEPRINTS: list[Blueprint] = []

# Account pages (activation, family space, invitation, agents' families).
from gateway.web import activation, agent, famille, invitation  # noqa: E402

BLUEPRINTS += [activation.bp, famille.bp, invitation.bp, agent.bp]

# Parents' booking pages ("Mes réservations") and the public iCalendar feed.
from gateway.web import reservations, reservations_abandon, reservations_feed  # noqa: E402,F401

BLUEPRINTS += [reservations.bp, reservations_feed.public_bp]

# Agents' booking back office (catalogue, enrolments, pointage, desk, exports).
from gateway.web import agent_reservations  # noqa: E402

BLUEPRINTS += [agent_reservations.bp]

# Requests: the parents' pages ("Mes demandes") and the agents' desk (/agent/demandes).
from gateway.web import demandes, demandes_agent  # noqa: E402

BLUEPRINTS += [demandes.bp, demandes_agent.bp]

# Parents' invoices and online payments ("Mes factures").
from gateway.web import factures  # noqa: E402

BLUEPRINTS += [factures.bp]

# E-mail preferences ("Mes notifications", a family-space tab) and agents' undeliverable addresses.
from gateway.web import notifications, notifications_agent  # noqa: E402

BLUEPRINTS += [notifications.bp, notifications_agent.bp]

# Agents' billing back office ("Facturation": runs, invoices, offline payments, QF, CSV exports).
from gateway.web import agent_facturation  # noqa: E402

BLUEPRINTS += [agent_facturation.bp]
