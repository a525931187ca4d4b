"""The web layer's settings, as one frozen object given to `create_app`.

The composition root builds it from the layered hotline settings (a `web:`
section); tests build it directly. Every field has a safe default except
`cookie_secure`, which must be turned on behind HTTPS (it is off so plain
http on localhost works).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from web.auth import PasswordHasher


@dataclass(frozen=True)
class WebConfig:
    # Sessions
    cookie_secure: bool = False          # True behind HTTPS: adds Secure and the __Host- prefix
    cookie_name: str = "hotline_session"
    device_cookie_name: str = "hotline_device"   # a browser that logged in before (login back-off)
    session_idle_s: float = 3600.0       # logged out after this long without a request
    session_absolute_s: float = 12 * 3600.0  # and after this long in any case (one shift)
    # Login rate limiting: failures counted in a window from the first one, then a back-off
    # that doubles each time (base, 2*base, ... capped). A browser holding a device token of
    # the user (set at a successful login) is only held back by its own failures (web/ratelimit.py).
    login_window_s: float = 900.0
    login_user_max: int = 5              # failures per username before a lockout
    login_ip_max: int = 50               # per client address (a call centre shares one NAT address)
    lockout_base_s: float = 60.0
    lockout_max_s: float = 3600.0
    # Requests
    allowed_origins: tuple[str, ...] = ()  # extra origins allowed on POST/PUT/PATCH/DELETE
    trust_forwarded: bool = False        # take the client address from X-Forwarded-For (behind a proxy)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")  # ...only when the peer is one of these
    max_body_bytes: int = 1024 * 1024
    # /metrics: public when empty, else requires "Authorization: Bearer <token>"
    metrics_token: str = ""
    # Passwords
    min_password_len: int = 10
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    # Audit stream length kept (approximate trim); 0 keeps everything
    audit_maxlen: int = 1_000_000
    # Check every API response against its declared schema (tests, development)
    validate_responses: bool = False

    @property
    def device_cookie(self) -> str:
        return f"__Host-{self.device_cookie_name}" if self.cookie_secure else self.device_cookie_name

    @property
    def cookie(self) -> str:
        """The cookie's name; `__Host-` pins it to this host and path / over HTTPS."""
        return f"__Host-{self.cookie_name}" if self.cookie_secure else self.cookie_name
