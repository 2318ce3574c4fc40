"""Pure domain of rectification: states, events, guards, permissions and the history chain.

No I/O, no clock, no ORM: everything here is a function of its arguments.
"""
