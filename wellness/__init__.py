"""wellness: a private, local-first health coach over your Apple Health export."""

__version__ = "0.1.0"
