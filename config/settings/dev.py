"""Development: debug on, local services, demo-friendly defaults."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
# Sign-up on the platform host is on in development (off by default in production).
ATRIUM_SIGNUP_ENABLED = env_bool("ATRIUM_SIGNUP_ENABLED", True)
