"""Plain functions holding the server's logic; handlers parse, call one, and map the result."""
