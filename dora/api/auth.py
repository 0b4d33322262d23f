"""Bearer-token authentication for the API (tokens are stored hashed, each with one scope)."""
