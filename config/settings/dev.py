"""Development: debug on, local services, demo-friendly defaults."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
