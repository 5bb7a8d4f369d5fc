"""The media routes again, with the Firestore registry (on the emulator) recording and listing media.

The tests are those of ``test_edge_media_local.py``, collected here a second time: only ``services``
differs (the fixtures of ``test_edge_api_on_firestore.py``).
"""

from __future__ import annotations

from tests.integration.test_edge_api_on_firestore import firestore_host, services  # noqa: F401
from tests.integration.test_edge_media_local import (  # noqa: F401  (collected again, on these fixtures)
    client,
    test_finalize_refuses_another_devices_object_and_any_name_outside_the_callers_prefix,
    test_listing_pages_by_cursor_and_refuses_a_bad_one,
    test_media_go_from_signed_url_to_a_readable_listing,
)
