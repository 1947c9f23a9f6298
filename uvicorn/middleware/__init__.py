"""Pipeline layers: scope layers, admission, default headers and observers."""
