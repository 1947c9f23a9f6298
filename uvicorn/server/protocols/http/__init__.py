"""The HTTP/1.1 core: one connection and one request cycle over sans-IO parser backends."""
