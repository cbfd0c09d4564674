"""Settings shared by every environment, one module per concern; anything machine-specific
comes from the environment. dev, test and prod start from these (``from .base import *``)."""

from atrium.conf import DEFAULTS as _ATRIUM_DEFAULTS

from .api_auth import *  # noqa: F403
from .core import *  # noqa: F403
from .database import *  # noqa: F403
from .mail import *  # noqa: F403
from .observability import *  # noqa: F403
from .realtime import *  # noqa: F403
from .redis_celery import *  # noqa: F403
from .storage import *  # noqa: F403

# Atrium's own settings (ATRIUM_<NAME>), declared with their defaults and environment
# variables in atrium/conf.py and read through its atrium_settings; set here so that the
# settings of each environment (and diffsettings) see them. An app's own settings are not
# here: they are declared in the app's conf.py.
globals().update({f"ATRIUM_{name}": value for name, value in _ATRIUM_DEFAULTS.items()})
