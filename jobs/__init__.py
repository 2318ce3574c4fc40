"""Scheduled jobs: the sweeps (deadline breaches, reminders, rebound checks) and the delivery worker.

The schedule lives in rectify's own tables; APScheduler only ticks (`scheduler`). `delivery`
sends the reminder outbox; `progress` shows a long sweep's progress.
"""
