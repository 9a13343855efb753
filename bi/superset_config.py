"""Superset's configuration for `make bi` (bi/serve.py sets SUPERSET_CONFIG_PATH):
offline, one machine, over the published warehouse read-only. Everything
Superset keeps (users, dashboards, its secret key) lives in $BI_STATE."""

import os

_STATE = os.path.abspath(os.environ.get("BI_STATE", "state"))
os.makedirs(_STATE, exist_ok=True)


def _secret_key() -> str:
    """SUPERSET_SECRET_KEY from the environment, else a random key kept in the state folder."""
    if os.environ.get("SUPERSET_SECRET_KEY"):
        return os.environ["SUPERSET_SECRET_KEY"]
    path = os.path.join(_STATE, "secret_key")
    if not os.path.exists(path):
        import secrets

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    with open(path) as f:
        return f.read().strip()


SECRET_KEY = _secret_key()
# metadata DB (users, dashboards, charts, query log): SQLite in the state folder
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(_STATE, "superset.db")
DATA_DIR = _STATE
UPLOAD_FOLDER = os.path.join(_STATE, "uploads") + "/"

# --- caches: never serve stale numbers after a warehouse refresh -----------
# Chart/query results (DATA_CACHE_CONFIG) and Superset objects (CACHE_CONFIG)
# are NullCache = nothing is cached; this is also Superset's default.
# CACHE_DEFAULT_TIMEOUT stays at its default (1 day): 0 would mean "never expire" in
# flask-caching and "far-future Expires" in etag_cache. NullCache below caches nothing.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# filter/explore state must persist (UI state only, no query results); default
# SupersetMetastoreCache keeps it in the metadata DB, so leave those two alone.

# --- features --------------------------------------------------------------
FEATURE_FLAGS = {
    "GLOBAL_ASYNC_QUERIES": False,  # no Celery/Redis
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
    "DYNAMIC_PLUGINS": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "EMBEDDED_SUPERSET": False,
}

# --- no outside requests ---------------------------------------------------
MAPBOX_API_KEY = ""
# map charts pull tiles / styles from the internet: hide them
VIZ_TYPE_DENYLIST = [
    "deck_arc",
    "deck_geojson",
    "deck_grid",
    "deck_hex",
    "deck_heatmap",
    "deck_multi",
    "deck_path",
    "deck_polygon",
    "deck_scatter",
    "deck_screengrid",
    "deck_contour",
    "mapbox",
    "cartodiagram",
]
ENABLE_CORS = False
STATIC_ASSETS_PREFIX = ""  # serve JS/CSS from this server, no CDN
# The PyPI build always renders a Scarf telemetry <img> in the top menu
# (SCARF_ANALYTICS is a build-time switch of the frontend). A CSP that allows
# only 'self' makes the browser refuse it before any request leaves.
TALISMAN_ENABLED = True
_CSP = {
    "base-uri": ["'self'"],
    "default-src": ["'self'"],
    "img-src": ["'self'", "blob:", "data:"],
    "worker-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],
    "object-src": "'none'",
    "style-src": ["'self'", "'unsafe-inline'"],
    "font-src": ["'self'", "data:"],
    "script-src": ["'self'", "'strict-dynamic'"],
}
TALISMAN_CONFIG = {
    "content_security_policy": _CSP,
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG
CONTENT_SECURITY_POLICY_WARNING = False
THEME_FONT_URL_ALLOWED_DOMAINS: list = []

# --- web -------------------------------------------------------------------
WTF_CSRF_ENABLED = True
SUPERSET_WEBSERVER_TIMEOUT = 60
SQLLAB_TIMEOUT = 60
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
SHOW_STACKTRACE = False
RATELIMIT_ENABLED = False
AUTH_RATE_LIMITED = False  # else flask-limiter warns about in-memory storage
