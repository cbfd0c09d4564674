"""Settings shared by every environment, one module per concern; anything machine-specific
comes from the environment. dev, test and prod start from these (``from .base import *``)."""

from .api_auth import *  # noqa: F403
from .core import *  # noqa: F403
from .database import *  # noqa: F403
from .observability import *  # noqa: F403
from .realtime import *  # noqa: F403
from .redis_celery import *  # noqa: F403
