"""Espace Famille gateway: the backend-for-frontend of the parents' and agents' web UI."""
