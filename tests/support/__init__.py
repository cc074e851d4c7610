"""Helpers the tests share (not tests): constants, real servers started on loopback, a fault proxy, the peer."""
