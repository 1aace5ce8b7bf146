"""The API's routers: thin adapters that validate, call one core function, and answer."""
