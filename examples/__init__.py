"""Small example applications; see each module's docstring for how to serve it."""
