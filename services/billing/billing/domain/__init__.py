"""Billing rules as plain Python over plain data: no database, no web framework, no broker.

The API, the worker and the pages call these functions; see README.md beside this file for
every rule in one place. All money is integer cents.
"""
