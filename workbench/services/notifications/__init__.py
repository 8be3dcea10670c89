"""Notifications: users' channels, preferences and inbox (:mod:`.service`), the notifier that makes
and delivers them (:mod:`.notifier`), and the events runs produce (:mod:`.run_events`)."""
