"""Interface adapters: every kind of app becomes one ASGI3 callable."""
