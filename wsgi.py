"""WSGI entry point: `gunicorn wsgi:app`."""
from pharmsafe import create_app

app = create_app()
