"""Tests of the application layer: properties of the services, audit against tampering."""
