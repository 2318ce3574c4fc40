"""Scheduled sweeps (deadline breaches, reminders, rebound checks) on APScheduler.

Not built yet: the schedule will live in rectify's own tables, and APScheduler only ticks.
"""
