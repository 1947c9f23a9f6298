"""Request limits and timeouts, as values the core and the backends read.

Sizes follow gunicorn's settings of the same names (``limit_request_line``,
``limit_request_fields``, ``limit_request_field_size``); the timeouts follow
Apache's mod_reqtimeout: the head must be complete ``header`` seconds after the
connection opened or after the first byte of a kept-alive request; a body gets
``body`` seconds, extended by one second for every ``min_body_rate`` bytes it
delivers, so a steady upload of any size passes while a trickle or a stall is
cut. ``0`` switches a limit or a timeout off.
"""

from __future__ import annotations

__all__ = ["CLOCK_BODY", "CLOCK_HEAD", "CLOCK_IDLE", "CLOCK_NONE", "Limits"]

# Which of its deadlines a connection runs (one timer per connection: see
# HTTPConnection.set_clock): none, keep-alive, head, body.
CLOCK_NONE, CLOCK_IDLE, CLOCK_HEAD, CLOCK_BODY = range(4)


class Limits:
    __slots__ = (
        "body",
        "body_timeout",
        "field_size",
        "fields",
        "h11_max_incomplete_event_size",
        "head_timeout",
        "max_head",
        "min_body_rate",
        "request_line",
    )

    def __init__(
        self,
        request_line: int = 8190,
        fields: int = 100,
        field_size: int = 8190,
        body: int = 0,
        head_timeout: float = 20.0,
        body_timeout: float = 20.0,
        min_body_rate: int = 500,
        h11_max_incomplete_event_size: int | None = None,
    ) -> None:
        self.request_line = request_line
        self.fields = fields
        self.field_size = field_size
        self.body = body
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.min_body_rate = min_body_rate
        # The most bytes a head within the limits can take on the wire (with a few
        # spaces of optional whitespace per field); past it the head is refused
        # without waiting for its end, so an endless header cannot grow memory.
        line = request_line or 65536
        field = (field_size or 65536) + 8
        self.max_head = line + 2 + (fields or 1000) * field + 2
        self.h11_max_incomplete_event_size = h11_max_incomplete_event_size or self.max_head
