"""Helpers the tests import (fixtures live in conftest.py, which nothing imports).

botapi     the Bot API stand-in: a real HTTP server on loopback
running    the whole bot polling the stand-in, and its settings
postgres   a throwaway PostgreSQL server on loopback, a fresh database per test
waiting    wait for a condition with a deadline, instead of sleeping
"""
