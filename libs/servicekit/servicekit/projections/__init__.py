"""Local read models (projections) that several services build from other services' events."""
