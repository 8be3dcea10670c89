"""The web front end: Panel apps served next to the API (home, login, chat, monitor)."""
