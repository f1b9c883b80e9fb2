"""Booking service: catalogue, calendars, cart, attendance."""
