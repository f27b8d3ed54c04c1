"""The app's settings with the floor's URLs (bench/webhook_floor_urls.py) as ROOT_URLCONF."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook_floor_urls"
