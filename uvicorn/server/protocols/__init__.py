"""Protocol cores: bytes on a socket in, ASGI messages out, and back."""
