# Smoke test of the paperless-ngx dependency venv (examples/paperless): every top-level module
# imports, and the three C extensions built from source in the FOD load their libraries.
import importlib, sys

MODULES = """
django rest_framework allauth allauth.mfa allauth.socialaccount auditlog cachalot celery kombu billiard
channels channels_redis redis hiredis django_celery_results compression_middleware corsheaders django_extensions
django_filters guardian multiselectfield django_softdelete treenode drf_spectacular drf_spectacular_sidecar
filelock flower tornado gotenberg_client httpx httpx_oauth imap_tools inotifyrecursive jinja2 markupsafe
langdetect nltk ocrmypdf pikepdf pikepdf._core lxml.etree lxml.objectify pdfminer img2pdf pi_heif PIL.Image
pathvalidate pdf2image dateutil dotenv gnupg python_ipware rapidfuzz regex sklearn scipy.sparse numpy joblib
threadpoolctl setproctitle tika_client tqdm watchdog.observers whitenoise whoosh zxingcpp babel bleach dateparser
concurrent_log_handler psycopg psycopg_c psycopg_pool MySQLdb granian uvloop cryptography.hazmat.bindings._rust
fido2 jwt rpds jsonschema yaml zstandard brotli msgpack charset_normalizer _cffi_backend pyzbar
""".split()
# Left out on purpose: drf_writable_nested (needs configured Django settings: see smoke_django.py),
# pyzbar.pyzbar (dlopens libzbar via ctypes.util.find_library: needs Debian libzbar0 at run time),
# magic (python-magic: dlopens libmagic the same way; works on a Debian host with libmagic1, not in a sandbox).

bad = []
for m in MODULES:
    try:
        importlib.import_module(m)
    except Exception as e:  # noqa: BLE001
        bad.append((m, repr(e)))
print(f"{len(MODULES)} modules, {len(bad)} failed")
for m, e in bad:
    print("FAILED", m, e)

import psycopg, lxml.etree, MySQLdb  # noqa: E401
assert psycopg.pq.__impl__ == "c", psycopg.pq.__impl__          # psycopg-c really loaded, libpq found
print("libpq", psycopg.pq.version())                              # 150020 with Debian bookworm libpq5
print("lxml", lxml.etree.LXML_VERSION, "libxml2", lxml.etree.LIBXML_COMPILED_VERSION,
      lxml.etree.LIBXML_VERSION, "libxslt", lxml.etree.LIBXSLT_VERSION)  # (2, 9, 14) both: built from source
print("mariadb client", MySQLdb._mysql.get_client_info())         # 3.3.20
sys.exit(1 if bad else 0)
