"""Caller identity: the request's bearer credential and the caller it names."""
