"""Billing service: invoices per family and commune, payments, credits."""
