"""Reference pipeline: which Spot camera did this image patch come from? (see README.md)."""
