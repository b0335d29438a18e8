"""The network rules every status lookup keeps: one reading of a URL (`urls`) and where a
connection may go (`egress`)."""
