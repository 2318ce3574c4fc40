"""Tests of persistence on real databases: the contract, concurrency, crashes."""
