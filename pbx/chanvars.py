"""Every channel variable the product shares between dialplan and controller.

Templates and handlers import these names; no HOTLINE_* string literal lives
anywhere else (the dialplan templates receive them as template values).
"""

# Set by the controller before it returns from the FastAGI session: where
# the dialplan goes next ("hangup", or "context,exten,priority"). Empty means
# the controller did not finish the call: the dialplan sends it to the fallback.
NEXT = "HOTLINE_NEXT"
# Why the call went to the fallback (set by the FastAGI server on a handler
# error, a drain timeout; by the dialplan when the AGI could not connect).
FALLBACK_REASON = "HOTLINE_FALLBACK_REASON"
# Marks a channel that went through the fallback context.
FALLBACK = "HOTLINE_FALLBACK"
# The number the caller dialled (DID), kept from the entry context.
DID = "HOTLINE_DID"
# Set by the trunk's PJSIP endpoint (set_var, dialplan/trunks.py) on every call it brings in:
# the trunk's name and the area code local caller numbers from it lack.
TRUNK = "HOTLINE_TRUNK"
AREA = "HOTLINE_AREA"
# Call id shared by controller, Redis records, recordings and tickets.
CALL_ID = "HOTLINE_CALL_ID"
# IVR tree version pinned for this call.
TREE_VERSION = "HOTLINE_TREE_VERSION"
# Lane the call waits in, once queued.
LANE = "HOTLINE_LANE"
# Transfers (hotline-conf context): the call's conference, the transfer id, the leg's role.
CONF = "HOTLINE_CONF"
TRANSFER = "HOTLINE_XFER"
CONF_ROLE = "HOTLINE_ROLE"
# Supervision (hotline-spy context): the seat channel spied on and the ChanSpy options.
SPY_TARGET = "HOTLINE_SPY_TARGET"
SPY_OPTIONS = "HOTLINE_SPY_OPTIONS"

# Calls out from a seat phone (hotline-seat-out): the number the dialling policy returned
# (digits only; empty: refused), set by the controller's seat-out handler.
OUT_NUM = "HOTLINE_OUT_NUM"

# Simulated caller (tests and `hotline call`): what the caller side does.
SIM_ID = "SIM_ID"
SIM_KEYS = "SIM_KEYS"
SIM_WAIT = "SIM_WAIT"
SIM_WAV = "SIM_WAV"
SIM_HOLD = "SIM_HOLD"
