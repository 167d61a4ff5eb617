"""Translations between wire formats, each in one place with both directions side by side."""
