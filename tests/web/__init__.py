"""Tests of the HTTP side: the REST API and the web pages."""
