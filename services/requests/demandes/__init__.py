"""Requests service (package `demandes`, never `requests`): categories, requests, attachments."""
