"""A simulated bank speaking the Systempay / PayZen form protocol (development and tests only)."""
