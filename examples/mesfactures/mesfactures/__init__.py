"""Mes factures en ligne: a sibling portal of Espace Famille.

An independent OpenID Connect relying party of identity (authorization code + PKCE, single
sign-on and single logout with the family space) that lists the parent's invoices through the
gateway's public API (`GET /api/invoices`, scope `invoices:read`) and sends them to the family
space to pay. It uses only public protocols: nothing of the platform's own packages.
"""
