"""FAKE: part of tests/fakes/fake-server-keeps-its-socket (see tests/fakes/README.md)."""
