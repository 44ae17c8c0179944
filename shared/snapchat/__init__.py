"""The Snap Marketing API: OAuth, a resilient client, and its errors."""

from shared.snapchat.client import MAX_IDENTIFIERS_PER_REQUEST, SnapchatClient
from shared.snapchat.errors import (
    SnapchatAuthError,
    SnapchatError,
    SnapchatNotFoundError,
    SnapchatPermissionError,
    SnapchatRequestError,
    SnapchatTransientError,
)
from shared.snapchat.oauth import AccessTokenCache, RefreshTokenStore, SnapOAuth, TokenResponse

__all__ = [
    "MAX_IDENTIFIERS_PER_REQUEST",
    "AccessTokenCache",
    "RefreshTokenStore",
    "SnapOAuth",
    "SnapchatAuthError",
    "SnapchatClient",
    "SnapchatError",
    "SnapchatNotFoundError",
    "SnapchatPermissionError",
    "SnapchatRequestError",
    "SnapchatTransientError",
    "TokenResponse",
]
