"""The HTTP edge: FastAPI adapters over the decision core (`create_app`, `run_server`)."""

from api.app import create_app
from api.server import run_server

__all__ = ["create_app", "run_server"]
