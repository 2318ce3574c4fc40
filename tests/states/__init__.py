"""Tests of the pure domain: the machine, guards, permissions, the measure and the hash chain."""
