"""Booking's rules as plain Python over plain data: no database, web framework, broker or I/O.

The service's API, worker and the gateway's pages are adapters around these modules; see
README.md in this directory for which module holds which rule.
"""
